//! Webhook URLs: `<public-url>/hooks/<id>`, one per (app, company, name)
//! and install, and those an app mints at run time ([`super::webhooks`]).
//! The id is the target itself, sealed by the host
//! (ChaCha20-Poly1305 under a key derived from the age identity): nothing
//! to store or look up, the same URL from every replica, and an id nobody
//! sealed (a guess, an edit) opens to nothing. It holds the install's
//! generation, so an uninstall revokes it for good: a new install gets a
//! new URL. Rotating the identity changes every URL (apps see the new ones
//! in the `webhooks` of their next event). A minted URL's target also
//! holds its key, whose record the host keeps while the URL is live: a
//! revoked one opens, but finds no record.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest, Sha256};

use crate::storage::Generation;

/// Where a webhook URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookTarget {
    pub app: String,
    pub company: String,
    pub name: String,
    pub generation: Generation,
    /// The key of a URL minted at run time; `None` for the sidecar's URL.
    pub minted: Option<String>,
}

/// Mints and opens webhook ids.
pub struct WebhookUrls {
    cipher: ChaCha20Poly1305,
    /// Derives each id's nonce from its target: one URL per target.
    nonce_key: [u8; 32],
    public_url: String,
}

/// The longest id accepted (a sealed target of the longest names).
const MAX_ID_LEN: usize = 1_024;

impl WebhookUrls {
    /// `key`: 32 secret bytes; `public_url`: what third parties call.
    pub fn new(key: [u8; 32], public_url: &str) -> WebhookUrls {
        let nonce_key = Sha256::new()
            .chain_update("nonce\0")
            .chain_update(key)
            .finalize()
            .into();
        WebhookUrls {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
            nonce_key,
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The full URL of `target`.
    pub fn url(&self, target: &HookTarget) -> String {
        format!("{}/hooks/{}", self.public_url, self.id(target))
    }

    /// The id of `target`: 96 bits of nonce, the sealed target, a 128-bit tag.
    pub fn id(&self, target: &HookTarget) -> String {
        // The sidecar's URL seals four fields, as it did before minting
        // came: URLs given to third parties stay valid across upgrades.
        let (app, company, name, generation) = (
            &target.app,
            &target.company,
            &target.name,
            target.generation.0,
        );
        let plain = match &target.minted {
            None => serde_json::to_vec(&(app, company, name, generation)),
            Some(key) => serde_json::to_vec(&(app, company, name, generation, key)),
        }
        .expect("strings and a number serialize");
        let digest = Sha256::new()
            .chain_update(self.nonce_key)
            .chain_update(&plain)
            .finalize();
        let nonce = Nonce::from_slice(&digest[..12]);
        let sealed = self
            .cipher
            .encrypt(nonce, plain.as_slice())
            .expect("ChaCha20-Poly1305 seals any length here");
        URL_SAFE_NO_PAD.encode([&digest[..12], sealed.as_slice()].concat())
    }

    /// The target an id names, if the host sealed it.
    pub fn open(&self, id: &str) -> Option<HookTarget> {
        if id.len() > MAX_ID_LEN {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(id).ok()?;
        if bytes.len() < 12 + 16 {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(12);
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), sealed).ok()?;
        type Sidecar = (String, String, String, u64);
        type Minted = (String, String, String, u64, String);
        let ((app, company, name, generation), minted) =
            match serde_json::from_slice::<Sidecar>(&plain) {
                Ok(sidecar) => (sidecar, None),
                Err(_) => {
                    let (app, company, name, generation, key): Minted =
                        serde_json::from_slice(&plain).ok()?;
                    ((app, company, name, generation), Some(key))
                }
            };
        Some(HookTarget {
            app,
            company,
            name,
            generation: Generation(generation),
            minted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> HookTarget {
        HookTarget {
            app: "nova-poshta".into(),
            company: "c1".into(),
            name: "status".into(),
            generation: Generation(7),
            minted: None,
        }
    }

    #[test]
    fn a_minted_url_differs_from_the_sidecars_and_opens_to_its_key() {
        let urls = WebhookUrls::new([1; 32], "http://h");
        let minted = HookTarget {
            minted: Some("k1".into()),
            ..target()
        };
        let id = urls.id(&minted);
        assert_ne!(id, urls.id(&target()));
        assert_eq!(urls.open(&id), Some(minted));
        assert_eq!(urls.open(&urls.id(&target())).unwrap().minted, None);
    }

    #[test]
    fn an_id_opens_to_its_target_and_is_stable() {
        let urls = WebhookUrls::new([1; 32], "https://apps.example.com/");
        let id = urls.id(&target());
        assert_eq!(urls.open(&id), Some(target()));
        assert_eq!(urls.id(&target()), id, "one URL per target");
        assert_eq!(
            urls.url(&target()),
            format!("https://apps.example.com/hooks/{id}")
        );
        assert!(
            !id.contains("c1") && !id.contains("nova"),
            "the id does not show its target"
        );
    }

    #[test]
    fn ids_differ_by_install_and_by_key_and_forgeries_open_to_nothing() {
        let urls = WebhookUrls::new([1; 32], "http://h");
        let id = urls.id(&target());
        let reinstalled = HookTarget {
            generation: Generation(8),
            ..target()
        };
        assert_ne!(urls.id(&reinstalled), id);
        assert_eq!(WebhookUrls::new([2; 32], "http://h").open(&id), None);
        let mut edited = id.clone().into_bytes();
        let last = edited.len() - 1;
        edited[last] = if edited[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(urls.open(std::str::from_utf8(&edited).unwrap()), None);
        for junk in ["", "x", "../../etc", &"A".repeat(2_000)] {
            assert_eq!(urls.open(junk), None, "{junk}");
        }
    }
}

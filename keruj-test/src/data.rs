//! The company's `kv` and `secrets`, read and seeded through the dev host's
//! `/_dev/api/data` (the same storage, limits and encryption as the app's
//! own calls).

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::TestApp;

impl TestApp {
    /// What the app stored in `kv` under `key` for `company`.
    #[track_caller]
    pub fn kv_get(&self, company: &str, key: &str) -> Option<Vec<u8>> {
        self.get("kv", company, key)
    }

    /// [`TestApp::kv_get`] read as JSON (what `kv::set_json` stored).
    #[track_caller]
    pub fn kv_get_json<T: DeserializeOwned>(&self, company: &str, key: &str) -> Option<T> {
        let bytes = self.kv_get(company, key)?;
        Some(serde_json::from_slice(&bytes).unwrap_or_else(|error| {
            panic!("kv {key:?} of {company} is not the JSON expected: {error}")
        }))
    }

    /// The names the app stored in `kv` for `company`, in order.
    #[track_caller]
    pub fn kv_keys(&self, company: &str) -> Vec<String> {
        let listed = self.api("GET", &self.data_query("kv", company, None), &Value::Null);
        let keys = listed["keys"].as_array().map_or(&[][..], Vec::as_slice);
        keys.iter()
            .filter_map(|key| key.as_str().map(str::to_owned))
            .collect()
    }

    /// Stores `value` in `kv` under `key` for `company`, as the app would.
    /// The company must be installed.
    #[track_caller]
    pub fn kv_set(&self, company: &str, key: &str, value: impl AsRef<[u8]>) {
        self.set("kv", company, key, value.as_ref())
    }

    /// The secret `name` of `company`, decrypted.
    #[track_caller]
    pub fn secret_get(&self, company: &str, name: &str) -> Option<String> {
        let bytes = self.get("secrets", company, name)?;
        Some(String::from_utf8(bytes).expect("a secret is text"))
    }

    /// Stores the secret `name` for `company` (encrypted, as the app's
    /// `secrets::set` does). The company must be installed.
    #[track_caller]
    pub fn secret_set(&self, company: &str, name: &str, value: &str) {
        self.set("secrets", company, name, value.as_bytes())
    }

    /// Whether `needle` occurs in plain text anywhere in the host's data
    /// folder (the store flushed to disk first): how a test proves that a
    /// secret the app stored is encrypted at rest.
    #[track_caller]
    pub fn stored_in_plaintext(&self, needle: impl AsRef<[u8]>) -> bool {
        let needle = needle.as_ref();
        assert!(!needle.is_empty(), "look for at least one byte");
        self.api("POST", "/_dev/api/flush", &Value::Null);
        let data = self.folder().join("data");
        plaintext_in(&data, needle)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", data.display()))
    }

    /// Whether `company` has the app installed.
    #[track_caller]
    pub fn is_installed(&self, company: &str) -> bool {
        let listed = self.api("GET", &self.data_query("kv", company, None), &Value::Null);
        listed["installed"] == true
    }

    #[track_caller]
    fn get(&self, space: &str, company: &str, key: &str) -> Option<Vec<u8>> {
        let read = self.api(
            "GET",
            &self.data_query(space, company, Some(key)),
            &Value::Null,
        );
        let encoded = read["value_base64"].as_str()?;
        Some(BASE64.decode(encoded).expect("the host sends base64"))
    }

    #[track_caller]
    fn set(&self, space: &str, company: &str, key: &str, value: &[u8]) {
        let body = json!({
            "app": self.name(),
            "company": company,
            "space": space,
            "key": key,
            "value_base64": BASE64.encode(value),
        });
        self.api("PUT", "/_dev/api/data", &body);
    }

    /// `/_dev/api/data?app=…&company=…&space=…[&key=…]`.
    fn data_query(&self, space: &str, company: &str, key: Option<&str>) -> String {
        let mut query = format!(
            "/_dev/api/data?app={}&company={}&space={space}",
            encode(self.name()),
            encode(company)
        );
        if let Some(key) = key {
            query.push_str(&format!("&key={}", encode(key)));
        }
        query
    }
}

/// Whether `needle` occurs as is in any file under `folder`, however deep:
/// what [`TestApp::stored_in_plaintext`] looks for in the host's data
/// folder, for a data folder of your own (an embedded host's, say).
pub fn plaintext_in(folder: &Path, needle: &[u8]) -> std::io::Result<bool> {
    let mut folders = vec![folder.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.is_dir() {
                folders.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|window| window == needle)
            {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// `text` percent-encoded for a query string (all but the unreserved).
pub(crate) fn encode(text: &str) -> String {
    let mut encoded = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(byte as char)
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_values_are_encoded() {
        assert_eq!(super::encode("acme & co/ü"), "acme%20%26%20co%2F%C3%BC");
    }
}

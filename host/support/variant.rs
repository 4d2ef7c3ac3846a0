//! A new version of a plugin without a new build: the same component with a
//! custom section appended, so that its digest differs and the host compiles
//! it as a version it has never seen. Shared by the reload tests and the
//! reload benchmark, which include this file with `#[path]`.

/// `wasm` with a custom section holding `n`: the same plugin, another digest.
pub fn variant(wasm: &[u8], n: usize) -> Vec<u8> {
    let name = b"keruj-variant";
    let mut content = vec![name.len() as u8];
    content.extend_from_slice(name);
    content.extend_from_slice(&n.to_le_bytes());
    let mut bytes = wasm.to_vec();
    bytes.push(0); // custom section id
    bytes.push(content.len() as u8); // its size as LEB128: one byte, < 128
    bytes.extend_from_slice(&content);
    bytes
}

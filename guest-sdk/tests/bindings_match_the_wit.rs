//! `src/bindings.rs` is generated from `wit/` and checked in (so that an
//! app's build needs no WIT parser): it must be regenerated whenever the WIT
//! changes. Its header holds the POSIX `cksum` of the WIT files it was made
//! from; this test recomputes it.

use std::path::Path;

/// POSIX `cksum`: CRC-32 (polynomial 0x04C11DB7, MSB first) over the bytes
/// and then the length, complemented; and the length.
fn cksum(data: &[u8]) -> (u32, usize) {
    fn step(crc: u32, byte: u8) -> u32 {
        let mut crc = crc ^ (u32::from(byte) << 24);
        for _ in 0..8 {
            crc = match crc & 0x8000_0000 {
                0 => crc << 1,
                _ => (crc << 1) ^ 0x04C1_1DB7,
            };
        }
        crc
    }
    let mut crc = data.iter().fold(0, |crc, &byte| step(crc, byte));
    let mut length = data.len();
    while length > 0 {
        crc = step(crc, (length & 0xff) as u8);
        length >>= 8;
    }
    (!crc, data.len())
}

#[test]
fn cksum_is_posix_cksum() {
    // `printf 'hello\n' | cksum`
    assert_eq!(cksum(b"hello\n"), (3015617425, 6));
}

#[test]
fn bindings_match_the_wit() {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(sdk.join("wit"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wit"))
        .collect();
    files.sort();
    let wit: Vec<u8> = files
        .iter()
        .flat_map(|f| std::fs::read(f).unwrap())
        .collect();
    let (crc, length) = cksum(&wit);
    let bindings = std::fs::read_to_string(sdk.join("src/bindings.rs")).unwrap();
    let expected = format!("// wit cksum: {crc} {length}\n");
    assert!(
        bindings.contains(&expected),
        "guest-sdk/wit changed since src/bindings.rs was generated: run \
         scripts/generate-guest-bindings (and commit src/bindings.rs)"
    );
}

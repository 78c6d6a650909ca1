//! One OpenPGP signature packet, read far enough to say what rpm 4.11.3 makes of it: version,
//! algorithms and issuer (RFC 4880 §5.2). rpm 4.11 parses version 3 and 4 packets by RSA (1)
//! and DSA (17) keys only: for any other algorithm rpmio/digest_nss.c pgpSignatureNew expects
//! -1 MPIs, which no packet has, so rpmio/rpmpgp.c pgpPrtSigParams finds it malformed
//! (rpm@rpm-4.11.3-release).

use std::fmt;

/// The facts of one OpenPGP signature packet that decide whether EL7 can verify it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigPacket {
    pub version: u8,
    pub pubkey_algo: u8,
    pub hash_algo: u8,
    pub issuer_key_id: Option<String>,
    pub issuer_fingerprint: Option<String>,
}

impl SigPacket {
    pub fn algorithm(&self) -> &'static str {
        match self.pubkey_algo {
            1..=3 => "RSA",
            17 => "DSA",
            19 => "ECDSA",
            22 => "EdDSA",
            27 => "Ed25519",
            28 => "Ed448",
            _ => "unknown",
        }
    }

    pub fn hash(&self) -> &'static str {
        match self.hash_algo {
            1 => "MD5",
            2 => "SHA1",
            3 => "RIPEMD160",
            5 => "MD2",
            8 => "SHA256",
            9 => "SHA384",
            10 => "SHA512",
            11 => "SHA224",
            _ => "unknown",
        }
    }

    /// Whether rpm 4.11 can parse it at all: a version 3 or 4 packet by an RSA (1) or DSA
    /// (17) key (pgpSignatureNew knows no other algorithm, nor RSA's 2 and 3).
    pub fn el7_parses(&self) -> bool {
        matches!(self.version, 3 | 4) && matches!(self.pubkey_algo, 1 | 17)
    }

    /// The issuer as rpm shows it: the fingerprint when present, else the key ID.
    pub fn issuer(&self) -> String {
        self.issuer_fingerprint
            .clone()
            .or_else(|| self.issuer_key_id.clone())
            .unwrap_or_else(|| "an unnamed key".to_string())
    }
}

impl fmt::Display for SigPacket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "V{} {}/{} signature by {}",
            self.version,
            self.algorithm(),
            self.hash(),
            self.issuer()
        )
    }
}

/// Read the first signature packet (RFC 4880 §5.2): version 3 or 4, algorithms, issuer.
pub fn parse_packet(bytes: &[u8]) -> std::result::Result<SigPacket, String> {
    let body = packet_body(bytes)?;
    let byte = |i: usize| body.get(i).copied().ok_or("truncated signature packet");
    match byte(0)? {
        3 => {
            // version, hashed length 5, type, time(4), key id(8), pubkey algo, hash algo
            let key_id = body.get(7..15).ok_or("truncated v3 signature")?;
            Ok(SigPacket {
                version: 3,
                pubkey_algo: byte(15)?,
                hash_algo: byte(16)?,
                issuer_key_id: Some(hex::encode(key_id)),
                issuer_fingerprint: None,
            })
        }
        version @ (4 | 5) => {
            let mut packet = SigPacket {
                version,
                pubkey_algo: byte(2)?,
                hash_algo: byte(3)?,
                issuer_key_id: None,
                issuer_fingerprint: None,
            };
            let mut at = 4;
            for _ in 0..2 {
                let len = usize::from(u16::from_be_bytes([byte(at)?, byte(at + 1)?]));
                let area = body
                    .get(at + 2..at + 2 + len)
                    .ok_or("truncated subpackets")?;
                read_subpackets(area, &mut packet)?;
                at += 2 + len;
            }
            Ok(packet)
        }
        other => Err(format!("signature packet version {other}")),
    }
}

fn read_subpackets(mut area: &[u8], packet: &mut SigPacket) -> std::result::Result<(), String> {
    while !area.is_empty() {
        let (len, skip) = match area[0] {
            n @ 0..=191 => (usize::from(n), 1),
            n @ 192..=254 => {
                let second = *area.get(1).ok_or("truncated subpacket length")?;
                ((usize::from(n) - 192) * 256 + usize::from(second) + 192, 2)
            }
            255 => {
                let b = area.get(1..5).ok_or("truncated subpacket length")?;
                (u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize, 5)
            }
        };
        let sub = area.get(skip..skip + len).ok_or("truncated subpacket")?;
        area = &area[skip + len..];
        let Some((&kind, data)) = sub.split_first() else {
            continue;
        };
        match kind & 0x7f {
            16 if data.len() == 8 => packet.issuer_key_id = Some(hex::encode(data)),
            33 if data.len() > 1 => packet.issuer_fingerprint = Some(hex::encode(&data[1..])),
            _ => {}
        }
    }
    Ok(())
}

/// The body of the first packet, which must be a signature (tag 2).
fn packet_body(bytes: &[u8]) -> std::result::Result<&[u8], String> {
    let first = *bytes.first().ok_or("empty signature")?;
    if first & 0x80 == 0 {
        return Err("not an OpenPGP packet".into());
    }
    let (tag, len, header) = if first & 0x40 == 0 {
        let tag = (first >> 2) & 0x0f;
        let (len, n) = match first & 3 {
            0 => (usize::from(*bytes.get(1).ok_or("truncated")?), 1),
            1 => {
                let b = bytes.get(1..3).ok_or("truncated")?;
                (usize::from(u16::from_be_bytes([b[0], b[1]])), 2)
            }
            2 => {
                let b = bytes.get(1..5).ok_or("truncated")?;
                (u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize, 4)
            }
            _ => (bytes.len() - 1, 0),
        };
        (tag, len, 1 + n)
    } else {
        let tag = first & 0x3f;
        let b0 = *bytes.get(1).ok_or("truncated")?;
        let (len, n) = match b0 {
            0..=191 => (usize::from(b0), 1),
            192..=223 => {
                let b1 = *bytes.get(2).ok_or("truncated")?;
                ((usize::from(b0) - 192) * 256 + usize::from(b1) + 192, 2)
            }
            255 => {
                let b = bytes.get(2..6).ok_or("truncated")?;
                (u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize, 5)
            }
            _ => return Err("partial-length signature packet".into()),
        };
        (tag, len, 1 + n)
    };
    if tag != 2 {
        return Err(format!("packet tag {tag}, not a signature"));
    }
    bytes
        .get(header..header + len)
        .ok_or_else(|| "truncated signature packet".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v4 RSA/SHA256 signature packet with issuer fingerprint and key ID subpackets.
    fn v4_packet() -> Vec<u8> {
        let fpr = [0xabu8; 20];
        let mut hashed = vec![22, 33, 4];
        hashed.extend_from_slice(&fpr);
        let unhashed = [9u8, 16, 1, 2, 3, 4, 5, 6, 7, 8];
        let mut body = vec![4, 0, 1, 8];
        body.extend_from_slice(&(hashed.len() as u16).to_be_bytes());
        body.extend_from_slice(&hashed);
        body.extend_from_slice(&(unhashed.len() as u16).to_be_bytes());
        body.extend_from_slice(&unhashed);
        body.extend_from_slice(&[0, 0, 0, 1, 1]); // hash prefix, a toy MPI
        let mut packet = vec![0x89, 0]; // old format, tag 2, two-byte length
        packet.push(body.len() as u8);
        packet.extend_from_slice(&body);
        packet
    }

    #[test]
    fn reads_algorithm_and_issuer_from_a_v4_packet() {
        let p = parse_packet(&v4_packet()).unwrap();
        assert_eq!(p.algorithm(), "RSA");
        assert_eq!(p.hash(), "SHA256");
        assert_eq!(p.issuer_fingerprint.as_deref(), Some(&"ab".repeat(20)[..]));
        assert_eq!(p.issuer_key_id.as_deref(), Some("0102030405060708"));
        assert!(p.el7_parses());
    }

    #[test]
    fn rejects_what_is_not_a_signature() {
        assert!(parse_packet(b"").is_err());
        assert!(parse_packet(b"hello").is_err());
        let mut p = v4_packet();
        p[0] = 0x99; // a public key packet
        assert!(parse_packet(&p).unwrap_err().contains("tag 6"));
        p.truncate(10);
        p[0] = 0x89;
        assert!(parse_packet(&p).is_err());
    }
}

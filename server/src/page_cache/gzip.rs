//! A kept page in gzip, joined per response from pieces compressed once. Each piece of the page
//! is compressed on its own into raw deflate blocks that end on a byte boundary (a sync flush,
//! never the final block), and the nonce between two pieces goes into a stored (uncompressed)
//! block. Deflate blocks may follow one another in any mix (RFC 1951), and a piece compressed
//! alone never refers back past its start, so the joined blocks are one valid stream; only the
//! gzip trailer's CRC-32 (RFC 1952) is computed per response, over the page's text.

use axum::body::Bytes;
use flate2::{Compress, Compression, FlushCompress, Status};

/// The gzip header: deflate, no name, no time, unknown system.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
/// An empty stored block marked final: the end of the deflate stream.
const LAST_BLOCK: [u8; 5] = [0x01, 0x00, 0x00, 0xff, 0xff];

pub struct Gzip {
    /// The deflate blocks of each piece of the page's text.
    blocks: Vec<Vec<u8>>,
}

impl Gzip {
    /// `None` if a piece could not be compressed (the page is then served as text).
    pub fn compress(pieces: &[Bytes]) -> Option<Self> {
        let blocks = pieces
            .iter()
            .map(|piece| deflate(piece))
            .collect::<Option<_>>()?;
        Some(Self { blocks })
    }

    /// The gzip stream of `pieces` (the text these blocks were compressed from) joined with
    /// `nonce`; `None` for a nonce too long for one stored block (never so for a nonce).
    pub fn join(&self, pieces: &[Bytes], nonce: &str) -> Option<Vec<u8>> {
        let stored = stored_block(nonce.as_bytes())?;
        let compressed = self.blocks.iter().map(Vec::len).sum::<usize>();
        let mut out = Vec::with_capacity(
            HEADER.len() + compressed + stored.len() * self.blocks.len() + LAST_BLOCK.len() + 8,
        );
        let mut crc = crc32fast::Hasher::new();
        let mut length = 0usize;
        out.extend_from_slice(&HEADER);
        for (i, (piece, blocks)) in pieces.iter().zip(&self.blocks).enumerate() {
            if i > 0 {
                out.extend_from_slice(&stored);
                crc.update(nonce.as_bytes());
                length += nonce.len();
            }
            out.extend_from_slice(blocks);
            crc.update(piece);
            length += piece.len();
        }
        out.extend_from_slice(&LAST_BLOCK);
        out.extend_from_slice(&crc.finalize().to_le_bytes());
        // ISIZE is the length modulo 2^32.
        out.extend_from_slice(&(length as u32).to_le_bytes());
        Some(out)
    }
}

/// `piece` as raw deflate blocks ending on a byte boundary, none of them final.
fn deflate(piece: &[u8]) -> Option<Vec<u8>> {
    let mut deflate = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(piece.len() / 3 + 64);
    loop {
        let read = usize::try_from(deflate.total_in()).ok()?;
        out.reserve(piece.len() / 3 + 64);
        let status = deflate
            .compress_vec(&piece[read..], &mut out, FlushCompress::Sync)
            .ok()?;
        let all_read = usize::try_from(deflate.total_in()).ok()? == piece.len();
        // The flush is complete once it stops short of the room it had (or has nothing left
        // to do); no progress with input left would be a piece cut short.
        if all_read && (status == Status::BufError || out.len() < out.capacity()) {
            return Some(out);
        }
        if status == Status::BufError {
            return None;
        }
    }
}

/// `data` in a stored block, not final (the stream is on a byte boundary here).
fn stored_block(data: &[u8]) -> Option<Vec<u8>> {
    let length = u16::try_from(data.len()).ok()?;
    let mut block = Vec::with_capacity(5 + data.len());
    block.push(0x00);
    block.extend_from_slice(&length.to_le_bytes());
    block.extend_from_slice(&(!length).to_le_bytes());
    block.extend_from_slice(data);
    Some(block)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .expect("a valid gzip stream");
        out
    }

    #[test]
    fn joined_pieces_are_one_valid_gzip_stream_of_the_text() {
        let long = "<p class=\"line\">a line of the page</p>".repeat(2000);
        let pieces: Vec<Bytes> = ["<html><script nonce=\"", "\">x</script>", "", &long, "end"]
            .into_iter()
            .map(|piece| Bytes::copy_from_slice(piece.as_bytes()))
            .collect();
        let gzip = Gzip::compress(&pieces).unwrap();
        for nonce in ["abcDEF123_-", "another0nce"] {
            let joined = gzip.join(&pieces, nonce).unwrap();
            let text: Vec<u8> = pieces
                .iter()
                .map(|piece| piece.to_vec())
                .collect::<Vec<_>>()
                .join(nonce.as_bytes());
            assert_eq!(gunzip(&joined), text);
            assert!(joined.len() < text.len() / 10, "compressed once, well");
        }
    }

    #[test]
    fn one_piece_alone_is_a_valid_stream_too() {
        let pieces = [Bytes::from_static(b"no nonce at all")];
        let joined = Gzip::compress(&pieces).unwrap().join(&pieces, "n").unwrap();
        assert_eq!(gunzip(&joined), b"no nonce at all");
    }
}

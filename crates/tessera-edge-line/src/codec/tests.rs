use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use proptest::prelude::*;
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

use super::*;

/// Serves fixed chunks, one per read (split further when the caller's buffer is smaller), so a
/// test decides exactly where reads break a line.
struct ChunkedReader {
    chunks: std::collections::VecDeque<Vec<u8>>,
}

impl ChunkedReader {
    fn new(chunks: Vec<Vec<u8>>) -> Self {
        Self {
            chunks: chunks.into_iter().filter(|c| !c.is_empty()).collect(),
        }
    }
}

impl AsyncRead for ChunkedReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if let Some(mut chunk) = self.chunks.pop_front() {
            let n = chunk.len().min(buf.remaining());
            buf.put_slice(&chunk[..n]);
            if n < chunk.len() {
                self.chunks.push_front(chunk.split_off(n));
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// What a correct reader returns for `data`: the lines before the first over-long one, and
/// whether reading stops on an over-long line.
fn reference(data: &[u8], max: usize) -> (Vec<Vec<u8>>, bool) {
    let mut lines = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.iter().position(|&b| b == b'\n') {
        let mut line = &rest[..i];
        if let [head @ .., b'\r'] = line {
            line = head;
        }
        if line.len() > max {
            return (lines, true);
        }
        lines.push(line.to_vec());
        rest = &rest[i + 1..];
    }
    (lines, rest.len() > max + 1)
}

async fn read_all<R: AsyncRead + Unpin>(reader: &mut LineReader<R>) -> (Vec<Vec<u8>>, bool) {
    let mut lines = Vec::new();
    loop {
        match reader.read_line().await {
            Ok(Some(line)) => lines.push(line),
            Ok(None) => return (lines, false),
            Err(LineError::TooLong { .. }) => return (lines, true),
            Err(LineError::Io(e)) => panic!("unexpected io error {e}"),
        }
    }
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

#[tokio::test]
async fn lines_split_across_writes_come_out_whole() {
    let (mut client, server) = tokio::io::duplex(64);
    let mut reader = LineReader::new(server, 100);
    let writer = tokio::spawn(async move {
        for piece in [
            &b"1 SET dep"[..],
            b"loy.a x\r\n2 GET",
            b" deploy.a\n\n3 Q",
            b"UERY\n",
        ] {
            client.write_all(piece).await.expect("write");
        }
    });
    let (lines, too_long) = read_all(&mut reader).await;
    writer.await.expect("writer");
    assert!(!too_long);
    assert_eq!(
        lines,
        vec![
            b"1 SET deploy.a x".to_vec(),
            b"2 GET deploy.a".to_vec(),
            Vec::new(),
            b"3 QUERY".to_vec()
        ]
    );
}

#[tokio::test]
async fn limit_is_exact() {
    let max = 10;
    let data = b"0123456789\n0123456789\r\n01234567890\n".to_vec();
    let mut reader = LineReader::new(ChunkedReader::new(vec![data]), max);
    assert_eq!(
        reader.read_line().await.unwrap(),
        Some(b"0123456789".to_vec())
    );
    assert_eq!(
        reader.read_line().await.unwrap(),
        Some(b"0123456789".to_vec())
    );
    assert!(matches!(
        reader.read_line().await,
        Err(LineError::TooLong { max: 10 })
    ));
    // Once out of step, the reader stays failed rather than resynchronising on a guess.
    assert!(matches!(
        reader.read_line().await,
        Err(LineError::TooLong { .. })
    ));
}

#[tokio::test]
async fn unterminated_fragment_at_eof_is_dropped() {
    let mut reader = LineReader::new(ChunkedReader::new(vec![b"1 GET a\n2 GE".to_vec()]), 64);
    assert_eq!(reader.read_line().await.unwrap(), Some(b"1 GET a".to_vec()));
    assert_eq!(reader.read_line().await.unwrap(), None);
}

#[tokio::test]
async fn endless_line_is_refused_without_reading_it_all() {
    let (mut client, server) = tokio::io::duplex(256);
    let mut reader = LineReader::new(server, 1024);
    let flood = tokio::spawn(async move {
        let chunk = vec![b'x'; 4096];
        let mut sent = 0usize;
        while sent < 16 * 1024 * 1024 {
            if client.write_all(&chunk).await.is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    });
    assert!(matches!(
        reader.read_line().await,
        Err(LineError::TooLong { max: 1024 })
    ));
    assert!(reader.buf.len() <= reader.capacity_limit());
    drop(reader);
    let sent = flood.await.expect("flood task");
    assert!(
        sent < 16 * 1024,
        "reader kept draining the flood: {sent} bytes"
    );
}

#[tokio::test]
async fn read_line_is_cancel_safe() {
    let (mut client, server) = tokio::io::duplex(64);
    let mut reader = LineReader::new(server, 64);
    client.write_all(b"AUTH tsr_").await.unwrap();
    let first = tokio::time::timeout(Duration::from_millis(20), reader.read_line()).await;
    assert!(first.is_err(), "no line is complete yet");
    client.write_all(b"secret\n").await.unwrap();
    assert_eq!(
        reader.read_line().await.unwrap(),
        Some(b"AUTH tsr_secret".to_vec())
    );
}

#[test]
fn ascii_tokens_skip_runs_of_whitespace() {
    let tokens: Vec<&[u8]> = ascii_tokens(b" 7\t deploy.a  x ").collect();
    assert_eq!(tokens, vec![&b"7"[..], b"deploy.a", b"x"]);
}

fn chunked(data: Vec<u8>, cuts: Vec<usize>) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (data.len() + 1)).collect();
    points.sort_unstable();
    let mut chunks = Vec::new();
    let mut last = 0;
    for p in points {
        chunks.push(data[last..p].to_vec());
        last = p;
    }
    chunks.push(data[last..].to_vec());
    chunks
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    /// Arbitrary bytes, cut into reads anywhere: the reader returns exactly the reference lines,
    /// in order, and stops on the first over-long line. It never panics and never joins or splits
    /// lines differently depending on where reads happened to break.
    #[test]
    fn arbitrary_bytes_match_the_reference(
        data in proptest::collection::vec(
            prop_oneof![4 => any::<u8>(), 1 => Just(b'\n'), 1 => Just(b'\r')], 0..2048),
        cuts in proptest::collection::vec(any::<usize>(), 0..32),
        max in 1usize..80,
    ) {
        let expected = reference(&data, max);
        let mut reader = LineReader::new(ChunkedReader::new(chunked(data, cuts)), max);
        let got = run(read_all(&mut reader));
        prop_assert!(reader.buf.len() <= max + 2);
        prop_assert_eq!(got, expected);
    }
}

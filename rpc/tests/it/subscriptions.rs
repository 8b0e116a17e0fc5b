//! Subscriptions over WebSocket: new heads, transaction watches, the per-connection limit, and a
//! slow subscriber being dropped without holding anything up.

use cairn_rpc::{codes, ChainApiClient, HexBytes, HexHash, NodeApiClient, TxApiClient};
use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::support::{error_code, signed_transfer, TestNode, PATIENCE};

#[tokio::test]
async fn new_heads_arrive_in_order_with_their_hash() {
    let node = TestNode::start().await;
    let ws = node.ws().await;
    let mut heads = ws.subscribe_new_heads().await.unwrap();
    let first = node.backend.commit_pending();
    let second = node.backend.commit_pending();
    for expected in [first, second] {
        let header = tokio::time::timeout(PATIENCE, heads.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(header.height, expected.height());
        assert_eq!(header.hash, expected.hash());
        header.to_header().unwrap();
    }
    heads.unsubscribe().await.unwrap();
}

#[tokio::test]
async fn a_watch_reports_the_commit_once() {
    let node = TestNode::start().await;
    let ws = node.ws().await;
    let tx = signed_transfer(0, 0, 1, 5);
    let hash = ws.submit(HexBytes(tx.encode())).await.unwrap();
    let mut watch = ws.watch(hash).await.unwrap();
    node.backend.commit_pending();
    let receipt = tokio::time::timeout(PATIENCE, watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(receipt.tx_hash, tx.hash());
    assert_eq!(receipt.height, 1);

    // Watching a committed transaction answers at once.
    let mut late = ws.watch(HexHash(tx.hash())).await.unwrap();
    let receipt = tokio::time::timeout(PATIENCE, late.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(receipt.height, 1);
}

#[tokio::test]
async fn subscriptions_per_connection_are_bounded() {
    let node = TestNode::start().await;
    let ws = node.ws().await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(ws.subscribe_new_heads().await.unwrap());
    }
    let (code, _) = error_code(ws.subscribe_new_heads().await.unwrap_err());
    assert_eq!(code, codes::TOO_MANY_SUBSCRIPTIONS);
    // Another connection has its own allowance, and calls still work on this one.
    let other = node.ws().await;
    other.subscribe_new_heads().await.unwrap();
    ws.node_status().await.unwrap();
}

/// A WebSocket client written out by hand, to see the exact frames the server sends.
pub(crate) struct RawWs {
    stream: TcpStream,
}

impl RawWs {
    pub(crate) async fn connect(addr: std::net::SocketAddr) -> RawWs {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await.unwrap());
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        RawWs { stream }
    }

    pub(crate) async fn send(&mut self, message: &Value) {
        let payload = message.to_string().into_bytes();
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut frame = vec![0x81];
        match payload.len() {
            len if len < 126 => frame.push(0x80 | len as u8),
            len => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(
            payload
                .iter()
                .enumerate()
                .map(|(i, byte)| byte ^ mask[i % 4]),
        );
        self.stream.write_all(&frame).await.unwrap();
    }

    pub(crate) async fn recv(&mut self) -> Value {
        serde_json::from_str(&self.recv_text().await).unwrap()
    }

    /// The next text message, reassembled from its frames, as the server wrote it.
    pub(crate) async fn recv_text(&mut self) -> String {
        let mut message = Vec::new();
        loop {
            let first = self.stream.read_u8().await.unwrap();
            let second = self.stream.read_u8().await.unwrap();
            let len = match second & 0x7f {
                126 => u64::from(self.stream.read_u16().await.unwrap()),
                127 => self.stream.read_u64().await.unwrap(),
                len => u64::from(len),
            };
            let mut payload = vec![0; len as usize];
            self.stream.read_exact(&mut payload).await.unwrap();
            match first & 0x0f {
                0x0 | 0x1 => message.extend_from_slice(&payload),
                0x8 => panic!("connection closed"),
                _ => continue, // ping, pong
            }
            if first & 0x80 != 0 {
                return String::from_utf8(message).unwrap();
            }
        }
    }
}

#[tokio::test]
async fn a_lagging_subscriber_is_dropped_with_a_clear_error_and_the_connection_lives_on() {
    let node = TestNode::start().await;
    let mut ws = RawWs::connect(node.handle.local_addr()).await;
    ws.send(
        &json!({ "jsonrpc": "2.0", "id": 1, "method": "chain_subscribeNewHeads", "params": [] }),
    )
    .await;
    let answer = ws.recv().await;
    let subscription = answer["result"].clone();
    assert!(!subscription.is_null(), "{answer}");

    // Far more announcements than the block channel holds, with no chance for the subscriber to
    // read in between (the test runtime has one thread): the announcer never waits.
    let block = node.backend.commit_pending();
    for _ in 0..(crate::support::BLOCK_CHANNEL_CAPACITY * 20) {
        node.backend.announce(&block);
    }

    let closing = tokio::time::timeout(PATIENCE, async {
        loop {
            let message = ws.recv().await;
            assert_eq!(message["method"], "chain_newHead", "{message}");
            assert_eq!(message["params"]["subscription"], subscription);
            if !message["params"]["error"].is_null() {
                return message;
            }
        }
    })
    .await
    .expect("the subscription was never closed");
    let error = &closing["params"]["error"];
    assert_eq!(error["code"], codes::SUBSCRIBER_TOO_SLOW, "{closing}");
    assert!(
        error["message"].as_str().unwrap().contains("too slowly"),
        "{closing}"
    );

    // The connection still answers calls.
    ws.send(&json!({ "jsonrpc": "2.0", "id": 2, "method": "node_status", "params": [] }))
        .await;
    let status = tokio::time::timeout(PATIENCE, async {
        loop {
            let message = ws.recv().await;
            if message["id"] == 2 {
                return message;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(status["result"]["latestHeight"], 1, "{status}");
}

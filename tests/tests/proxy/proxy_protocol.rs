//! PROXY protocol v2 on the client listener: a load balancer's header gives sluice the real client
//! address (SHOW SESSIONS, logs, digests); a connection without one is closed.

use mysql_async::prelude::*;
use tokio::io::AsyncReadExt;

use super::{admin, setup};

/// A one-connection-at-a-time "load balancer": accepts, sends the PROXY header naming `client`, then
/// copies bytes both ways to sluice.
async fn balancer(sluice: std::net::SocketAddr, client: std::net::SocketAddr) -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut down, _)) = l.accept().await {
            tokio::spawn(async move {
                let Ok(mut up) = tokio::net::TcpStream::connect(sluice).await else { return };
                let header = sluice_protocol::proxy_header::encode(client, sluice);
                if tokio::io::AsyncWriteExt::write_all(&mut up, &header).await.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn the_header_gives_the_client_address_and_a_connection_without_one_is_closed() {
    let (topo, schema) = setup("proxyproto").await;
    let mut cfg = topo.sluice_config();
    cfg.server.proxy_protocol = true;
    let p = sluice_tests::start_proxy(cfg).await;
    let real: std::net::SocketAddr = "203.0.113.9:4242".parse().expect("addr");
    let lb = balancer(p.addr(), real).await;
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(lb.ip().to_string())
        .tcp_port(lb.port())
        .user(Some("app"))
        .pass(Some("app"))
        .db_name(Some(schema))
        .prefer_socket(false);
    let mut c = mysql_async::Conn::new(opts).await.expect("through the balancer");
    let one: Option<i32> = c.query_first("SELECT 1").await.expect("select");
    assert_eq!(one, Some(1));
    let mut admin = admin(&p).await;
    let rows: Vec<mysql_async::Row> = admin.query("SHOW SESSIONS").await.expect("SHOW SESSIONS");
    let seen: Vec<String> = rows.iter().filter_map(|r| r.get::<String, _>("client")).collect();
    assert!(seen.contains(&real.to_string()), "{seen:?}");

    // Straight to sluice, no header: closed before any greeting.
    let mut raw = tokio::net::TcpStream::connect(p.addr()).await.expect("connect");
    tokio::io::AsyncWriteExt::write_all(&mut raw, b"GET / HTTP/1.0\r\n\r\n").await.expect("write");
    let mut buf = Vec::new();
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), raw.read_to_end(&mut buf))
        .await
        .expect("closed promptly")
        .unwrap_or(0);
    assert_eq!(n, 0, "no greeting without a PROXY header: {buf:?}");
    // Sessions through the balancer carry on.
    let one: Option<i32> = c.query_first("SELECT 1").await.expect("still works");
    assert_eq!(one, Some(1));
}

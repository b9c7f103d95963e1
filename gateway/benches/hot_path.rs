//! Micro-benchmarks of the gateway's per-request work, socket excluded:
//!
//! * `parse_environ/browser_get`: framing a browser-like GET head (`http::parse_head`), routing it
//!   through the mount table and writing its environ (`environ::build_request`);
//! * `hello/abi_round_trip`: one call of the `hello` sample app through the ABI
//!   (`AppInstance::call`, `next_step` until `End`, drop = close) with a reused `RequestSlot` and
//!   `Environ`;
//! * `hello/respond`: the same request through `Responder::respond` into a reused output buffer
//!   (environ, call, response head, body framing): the whole per-request work minus the socket;
//! * `encode/*`: chunk framing of 4 KiB and 64 KiB chunks and a response head.
//!
//! Run with `cargo bench -p nsgi-gateway --bench hot_path`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nsgi::host::{AppInstance, AppModule, Environ, InitOptions, RequestSlot, Step};
use nsgi_gateway::HEADER_SLOTS;
use nsgi_gateway::MountTable;
use nsgi_gateway::TrustedProxies;
use nsgi_gateway::{After, Apps, Responder};
use nsgi_gateway::{
    BodyKind, Limits, Parsed, RequestHead, ResponseHead, Version, header_slots, parse_head, write_chunk, write_head,
};
use nsgi_gateway::{Endpoints, Site, build_request};
use std::hint::black_box;
use std::sync::Arc;

/// What a browser sends for a page: eight header lines.
const BROWSER_GET: &[u8] = b"GET /articles/2024/nsgi-benchmarks?page=2&sort=new HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Connection: keep-alive\r\n\
Cookie: session=6f1e2d3c4b5a69788796a5b4c3d2e1f0; theme=dark\r\n\
Upgrade-Insecure-Requests: 1\r\n\
\r\n";

/// The date the response-head benchmark writes (an IMF-fixdate, as `DateCache` gives).
const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

/// A TCP connection from a loopback client.
fn endpoints() -> Endpoints {
    Endpoints::tcp(
        "127.0.0.1:50000".parse().expect("peer address"),
        "127.0.0.1:8000".parse().expect("local address"),
    )
}

/// Parses `raw`, which must be a complete, valid head.
fn parse<'b, 'h>(raw: &'b [u8], slots: &'h mut [nsgi_gateway::HeaderSlot<'b>]) -> RequestHead<'b, 'h> {
    match parse_head(raw, slots, &Limits::default()) {
        Ok(Parsed::Complete(head)) => head,
        other => panic!("the benchmark request does not parse: {other:?}"),
    }
}

fn parse_and_environ(c: &mut Criterion) {
    let limits = Limits::default();
    let site = Site {
        mounts: MountTable::new([""], "").expect("root mount"),
        proxies: TrustedProxies::none(),
        flags: 0,
    };
    let conn = endpoints();
    let mut environ = Environ::new();
    let mut group = c.benchmark_group("parse_environ");
    group.bench_function("browser_get", |b| {
        b.iter(|| {
            // As the connection does: a fresh header array per request.
            let mut slots = header_slots::<HEADER_SLOTS>();
            let head = match parse_head(black_box(BROWSER_GET), &mut slots[..limits.max_headers], &limits) {
                Ok(Parsed::Complete(head)) => head,
                other => panic!("the benchmark request does not parse: {other:?}"),
            };
            let route = site.mounts.route_encoded(head.path).expect("routed to /");
            build_request(&mut environ, &head, 0, &conn, &site, &route);
            black_box(environ.len())
        })
    });
    group.bench_function("browser_get_parse_only", |b| {
        b.iter(|| {
            let mut slots = header_slots::<HEADER_SLOTS>();
            let head = parse(black_box(BROWSER_GET), &mut slots[..limits.max_headers]);
            black_box(head.head_len)
        })
    });
    group.finish();
}

fn hello_instance() -> AppInstance {
    let module = AppModule::load(nsgi_testkit::sample_library("hello")).expect("load libhello.so");
    AppInstance::init(&module, &InitOptions::default()).expect("init hello")
}

fn hello(c: &mut Criterion) {
    let instance = hello_instance();
    let mut slots = header_slots::<HEADER_SLOTS>();
    let head = parse(BROWSER_GET, &mut slots[..]);
    let site = Site {
        mounts: MountTable::new([""], "").expect("root mount"),
        proxies: TrustedProxies::none(),
        flags: 0,
    };
    let conn = endpoints();
    let route = site.mounts.route_encoded(head.path).expect("routed to /");
    let mut environ = Environ::new();
    build_request(&mut environ, &head, 0, &conn, &site, &route);
    let mut slot = RequestSlot::new();
    let mut errors: Vec<u8> = Vec::with_capacity(1024);

    let mut group = c.benchmark_group("hello");
    group.bench_function("abi_round_trip", |b| {
        b.iter(|| {
            let mut input: &[u8] = &[];
            let mut exchange = instance.call(&mut slot, &mut environ, &mut input, &mut errors);
            let mut bytes = 0;
            loop {
                match exchange.next_step() {
                    Ok(Step::Head { head, data, .. }) => bytes += head.status().len() + data.len(),
                    Ok(Step::Data(data)) => bytes += data.len(),
                    Ok(Step::End) => break,
                    Err(failure) => panic!("hello failed: {failure}"),
                }
            }
            drop(exchange);
            black_box(bytes)
        })
    });

    let apps = Arc::new(Apps::new(vec![instance], site, None));
    let mut responder = Responder::new(apps);
    let mut out: Vec<u8> = Vec::with_capacity(64 * 1024);
    group.bench_function("respond", |b| {
        b.iter(|| {
            out.clear();
            let mut input: &[u8] = &[];
            let served = responder.respond(
                black_box(&head),
                &mut input,
                0,
                &conn,
                &mut out,
                false,
                None,
                std::time::SystemTime::UNIX_EPOCH,
            );
            assert_eq!(served.after, After::KeepAlive);
            black_box(out.len())
        })
    });
    group.finish();
    assert!(out.ends_with(b"Hello, World!"), "the last response is hello's");
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    let mut out: Vec<u8> = Vec::with_capacity(128 * 1024);
    for size in [4 * 1024, 64 * 1024] {
        let data = vec![b'x'; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("write_chunk", size), &data, |b, data| {
            b.iter(|| {
                out.clear();
                write_chunk(&mut out, black_box(data));
                black_box(out.len())
            })
        });
    }
    group.throughput(Throughput::Elements(1));
    let headers: &[(&[u8], &[u8])] = &[
        (b"Content-Type", b"text/html; charset=utf-8"),
        (b"Cache-Control", b"private, max-age=0"),
        (
            b"Set-Cookie",
            b"session=6f1e2d3c4b5a69788796a5b4c3d2e1f0; Path=/; HttpOnly; Secure",
        ),
        (b"Vary", b"Accept-Encoding"),
        (b"Content-Length", b"5120"),
    ];
    group.bench_function("write_head", |b| {
        b.iter(|| {
            out.clear();
            let head = ResponseHead {
                version: Version::Http11,
                status: b"200 OK",
                headers: black_box(headers).iter().copied(),
                body: BodyKind::Length(5120),
                keep_alive: true,
                is_head: false,
                relayed: false,
            };
            write_head(&mut out, &head, DATE, b"nsgi-gateway");
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, parse_and_environ, hello, encode);
criterion_main!(benches);

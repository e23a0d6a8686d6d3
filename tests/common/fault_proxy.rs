//! A fault proxy in front of the real notary-server (tests/common/notary_server.rs): plain
//! HTTP on 127.0.0.1, one request per connection, each passed on to the server (https, the
//! harness's CA) and its answer passed back, unless a fault is set for the request's method:
//! the connection dropped after half the request body, a `500` answered by the proxy itself,
//! the request read and never answered, or the request read and held until the fault is
//! changed, then passed on (a publish that reaches the server late).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::notary_server::NotaryServer;

/// What the proxy does to the requests of the chosen method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Passes them on.
    Pass,
    /// Reads the headers and half the body, then closes the connection.
    DropMidBody,
    /// Reads the request and answers `HTTP/1.1 500` itself.
    Status500,
    /// Reads the request and never answers (the connection stays open until the proxy goes).
    Stall,
    /// Reads the request and holds it until the fault is changed (`set`), then passes it on.
    Hold,
}

struct Setting {
    fault: Fault,
    method: &'static str,
    /// Requests the fault was applied to.
    faulted: usize,
    /// Stalled connections, kept open.
    held: Vec<TcpStream>,
}

/// A running fault proxy; stopped (its stalled connections closed) on drop.
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`, for `-s`.
    pub url: String,
    setting: Arc<Mutex<Setting>>,
    stop: Arc<AtomicBool>,
    port: u16,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy that passes everything to `upstream`.
    pub fn start(upstream: &NotaryServer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let setting = Arc::new(Mutex::new(Setting {
            fault: Fault::Pass,
            method: "",
            faulted: 0,
            held: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let agent = agent(&upstream.ca);
        let base = upstream.url.trim_end_matches('/').to_string();
        let thread = {
            let (setting, stop) = (setting.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (setting, agent, base) = (setting.clone(), agent.clone(), base.clone());
                    std::thread::spawn(move || serve(stream, &setting, &agent, &base));
                }
            })
        };
        FaultProxy {
            url: format!("http://127.0.0.1:{port}"),
            setting,
            stop,
            port,
            thread: Some(thread),
        }
    }

    /// From now on, requests of `method` (`GET`, `POST`) meet `fault`; others pass.
    pub fn set(&self, fault: Fault, method: &'static str) {
        let mut s = self.setting.lock().unwrap();
        s.fault = fault;
        s.method = method;
        s.faulted = 0;
        s.held.clear();
    }

    /// How many requests met the fault since it was set.
    pub fn faulted(&self) -> usize {
        self.setting.lock().unwrap().faulted
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Ok(mut s) = self.setting.lock() {
            s.held.clear();
            // Held requests go on (and their threads end).
            s.fault = Fault::Pass;
        }
    }
}

fn agent(ca: &std::path::Path) -> ureq::Agent {
    let certs: Vec<_> = ureq::tls::parse_pem(&std::fs::read(ca).unwrap())
        .filter_map(|i| match i {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .root_certs(ureq::tls::RootCerts::from(certs))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .build()
        .into()
}

/// One request: read it, then fault it or pass it on.
fn serve(mut stream: TcpStream, setting: &Mutex<Setting>, agent: &ureq::Agent, base: &str) {
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let (mut length, mut content_type) = (0usize, String::new());
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            match k.to_ascii_lowercase().as_str() {
                "content-length" => length = v.trim().parse().unwrap_or(0),
                "content-type" => content_type = v.trim().to_string(),
                _ => {}
            }
        }
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let fault = {
        let mut s = setting.lock().unwrap();
        if s.fault != Fault::Pass && s.method == method {
            s.faulted += 1;
            s.fault
        } else {
            Fault::Pass
        }
    };
    if fault == Fault::DropMidBody {
        let mut half = vec![0u8; length / 2];
        let _ = reader.read_exact(&mut half);
        let _ = stream.shutdown(Shutdown::Both);
        return;
    }
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    while fault == Fault::Hold && setting.lock().unwrap().fault == Fault::Hold {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let (status, content_type, answer) = match fault {
        Fault::Stall => {
            setting.lock().unwrap().held.push(stream);
            return;
        }
        Fault::Status500 => (
            500,
            "text/plain".to_string(),
            b"fault proxy: an injected internal error".to_vec(),
        ),
        _ => {
            let url = format!("{base}{path}");
            let sent = if method == "POST" {
                agent
                    .post(&url)
                    .header("Content-Type", &content_type)
                    .send(&body[..])
            } else {
                agent.get(&url).call()
            };
            let Ok(mut resp) = sent else {
                return;
            };
            let ct = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/octet-stream")
                .to_string();
            let answer = resp.body_mut().read_to_vec().unwrap_or_default();
            (resp.status().as_u16(), ct, answer)
        }
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        answer.len()
    )
    .and_then(|()| stream.write_all(&answer));
}

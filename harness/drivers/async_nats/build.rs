//! Stamps the driver with the async-nats version Cargo.lock resolved (what --describe
//! reports) and the compiler's version.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string("Cargo.lock").expect("Cargo.lock is committed beside Cargo.toml");
    let mut lines = lock.lines();
    let version = loop {
        match lines.next() {
            Some("name = \"async-nats\"") => {
                let v = lines.next().and_then(|l| l.strip_prefix("version = \""));
                break v
                    .and_then(|v| v.strip_suffix('"'))
                    .expect("a version line after async-nats");
            }
            Some(_) => continue,
            None => panic!("async-nats is not in Cargo.lock"),
        }
    };
    println!("cargo:rustc-env=ASYNC_NATS_VERSION={version}");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc)
        .arg("--version")
        .output()
        .expect("rustc --version runs");
    let text = String::from_utf8_lossy(&out.stdout);
    // "rustc 1.95.0 (...)" -> "rustc1.95.0", as Go says "go1.26.8".
    let v = text.split_whitespace().nth(1).unwrap_or("unknown");
    println!("cargo:rustc-env=RUSTC_VERSION=rustc{v}");
}

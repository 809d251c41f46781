//! `tim-bench-echo [--listen HOST:PORT] [--read-buffer BYTES] [--fair]`: the raw WebSocket echo server used
//! as the floor by the bench. Prints `echo server listening on ws://HOST:PORT/ws` once it accepts
//! connections. `--read-buffer` sets tungstenite's per-connection read buffer (default 128 KiB); `--fair`
//! uses `tim-server`'s own WebSocket settings (`tim_bench::echo::fair_config`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut listen = "127.0.0.1:0".to_string();
    let mut config = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--fair" {
            config = Some(tim_bench::echo::fair_config());
            continue;
        }
        match (flag.as_str(), args.next()) {
            ("--listen", Some(addr)) => listen = addr,
            ("--read-buffer", Some(bytes)) => match bytes.parse::<usize>() {
                Ok(n) if n >= 256 => {
                    config =
                        Some(tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(n))
                }
                _ => {
                    eprintln!("tim-bench-echo: --read-buffer needs a byte count of at least 256");
                    return ExitCode::FAILURE;
                }
            },
            _ => {
                eprintln!("usage: tim-bench-echo [--listen HOST:PORT] [--read-buffer BYTES] [--fair]");
                return ExitCode::FAILURE;
            }
        }
    }
    tim_bench::proc_info::raise_nofile_limit(1 << 20);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tim-bench-echo: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(&listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("tim-bench-echo: cannot listen on {listen}: {e}");
                return ExitCode::FAILURE;
            }
        };
        match listener.local_addr() {
            Ok(addr) => println!("echo server listening on ws://{addr}/ws"),
            Err(e) => {
                eprintln!("tim-bench-echo: no local address: {e}");
                return ExitCode::FAILURE;
            }
        }
        tim_bench::echo::serve(listener, config).await;
        ExitCode::SUCCESS
    })
}

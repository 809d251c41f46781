//! `tim-bench-echo --listen HOST:PORT`: the raw WebSocket echo server used as the floor by the bench.
//! Prints `echo server listening on ws://HOST:PORT/ws` once it accepts connections.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let listen = match args.as_slice() {
        [] => "127.0.0.1:0".to_string(),
        [flag, addr] if flag == "--listen" => addr.clone(),
        _ => {
            eprintln!("usage: tim-bench-echo [--listen HOST:PORT]");
            return ExitCode::FAILURE;
        }
    };
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
        tim_bench::echo::serve(listener).await;
        ExitCode::SUCCESS
    })
}

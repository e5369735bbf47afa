//! `peer-tokio-ws --addr HOST:PORT --threads N`: `/ws` echoes every text or binary message,
//! `/broadcast` sends every message to every /broadcast connection. One task per
//! connection, a `tokio::sync::broadcast` channel for the room.

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:3000".to_owned();
    let mut threads = 2;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr HOST:PORT"),
            "--threads" => threads = args.next().expect("--threads N").parse().expect("N"),
            other => panic!("unknown argument {other}"),
        }
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .unwrap()
        .block_on(serve(addr));
}

async fn serve(addr: String) {
    let listener = TcpListener::bind(&addr).await.unwrap();
    let (room, _) = broadcast::channel::<Message>(1024);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(stream, room.clone()));
            }
            _ = tokio::signal::ctrl_c() => return,
        }
    }
}

async fn connection(stream: TcpStream, room: broadcast::Sender<Message>) {
    let mut path = String::new();
    let callback = |request: &Request, response: Response| {
        path = request.uri().path().to_owned();
        Ok(response)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    match path.as_str() {
        "/broadcast" => {
            let mut inbox = room.subscribe();
            loop {
                tokio::select! {
                    message = stream.next() => match message {
                        Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                            let _ = room.send(message);
                        }
                        Some(Ok(_)) => {}
                        _ => return,
                    },
                    message = inbox.recv() => match message {
                        Ok(message) => {
                            if sink.send(message).await.is_err() {
                                return;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => return,
                    },
                }
            }
        }
        _ => {
            while let Some(Ok(message)) = stream.next().await {
                if (message.is_text() || message.is_binary()) && sink.send(message).await.is_err() {
                    return;
                }
            }
        }
    }
}

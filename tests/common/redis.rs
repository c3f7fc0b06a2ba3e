//! A real `redis-server` for a test: 127.0.0.1, a free port, no persistence
//! (`--save '' --appendonly no`), a temporary directory; stopped when dropped.
//! Missing redis-server: the test is skipped with a note, or fails under `CC_STRICT=1`.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends one inline command and returns the first line of the answer.
fn command(port: u16, cmd: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(format!("{cmd}\r\n").as_bytes())?;
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).trim().to_string())
}

impl RedisServer {
    /// Starts a server; `None` (after saying why) when redis-server is not installed and
    /// `CC_STRICT` is not 1.
    pub fn start() -> Option<RedisServer> {
        let dir =
            std::env::temp_dir().join(format!("cc-redis-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = RedisServer {
            child: None,
            port: free_port(),
            dir,
        };
        match r.spawn() {
            Ok(()) => Some(r),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let _ = std::fs::remove_dir_all(&r.dir);
                if std::env::var("CC_STRICT").as_deref() == Ok("1") {
                    panic!("redis-server is not installed (apt-get install -y redis-server)");
                }
                eprintln!(
                    "SKIPPED: redis-server is not installed (apt-get install -y redis-server)"
                );
                None
            }
            Err(e) => panic!("cannot start redis-server: {e}"),
        }
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--dir", self.dir.to_str().unwrap()])
            .args(["--dbfilename", "test.rdb"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while command(self.port, "PING")
            .map(|r| r != "+PONG")
            .unwrap_or(true)
        {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Stops the server. With `save`, its data is written to its directory first, and
    /// [`RedisServer::restart`] loads it again (the same Redis data); without, it is lost.
    pub fn stop(&mut self, save: bool) {
        if let Some(mut c) = self.child.take() {
            if save {
                let _ = command(self.port, "SHUTDOWN SAVE");
            } else {
                let _ = c.kill();
            }
            let _ = c.wait();
            if !save {
                let _ = std::fs::remove_file(self.dir.join("test.rdb"));
            }
        }
    }

    pub fn restart(&mut self) {
        self.spawn().expect("redis-server restarts");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop(false);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

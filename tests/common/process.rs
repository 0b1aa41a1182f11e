//! The process pool's test handshake, shared by its test files: a job that
//! connects to a socket, reports its pid and blocks until released, so a test
//! knows a job is running in a worker without sleeping.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

use concurrent_futures::process::process_fn;

process_fn! {
    /// Connects to `socket`, sends its pid, and waits for one byte (or the
    /// socket's close) before returning its pid.
    pub fn hold(socket: PathBuf) -> u32 {
        let mut stream = UnixStream::connect(&socket).unwrap();
        stream.write_all(&std::process::id().to_le_bytes()).unwrap();
        let mut byte = [0_u8];
        let _ = stream.read(&mut byte);
        std::process::id()
    }
}

/// The test side of `hold`: a socket the job connects to.
pub struct Handshake {
    pub path: PathBuf,
    listener: UnixListener,
}

impl Handshake {
    pub fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("cf-process-{}-{name}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        Handshake { path, listener }
    }

    /// Waits for the job to connect; returns its pid and the stream that
    /// releases it.
    pub fn accept(&self) -> (u32, UnixStream) {
        let (mut stream, _) = self.listener.accept().unwrap();
        let mut pid = [0_u8; 4];
        stream.read_exact(&mut pid).unwrap();
        (u32::from_le_bytes(pid), stream)
    }
}

impl Handshake {
    /// Fails if a job has connected and not been accepted (for a test whose
    /// jobs must not have run).
    #[allow(dead_code)]
    pub fn assert_no_connection(&self) {
        self.listener.set_nonblocking(true).unwrap();
        match self.listener.accept() {
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Ok(_) => panic!("a job connected: it ran"),
            Err(error) => panic!("accept: {error}"),
        }
        self.listener.set_nonblocking(false).unwrap();
    }
}

impl Drop for Handshake {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Lets a held job return.
pub fn release(mut stream: UnixStream) {
    stream.write_all(&[1]).unwrap();
}

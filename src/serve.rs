//! Starting the page for any mode: settings checked once, the token made when
//! needed, the URL printed, the browser opened without delaying anything.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::cli::ServeArgs;
use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::server::{self, Access, App};

/// A random token: 128 bits from the kernel, hex.
fn new_token() -> Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::Usage(format!("cannot make an access token ({e}); pass --token")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Binds and serves in the background; returns the page's URL.
pub async fn start(args: &ServeArgs, hub: Hub) -> Result<String> {
    let loopback = args.bind.is_loopback();
    let token = match (&args.token, loopback) {
        (Some(t), _)
            if t.is_empty()
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b)) =>
        {
            return Err(Error::Usage(
                "--token must be non-empty letters, digits, '-', '_', '.' or '~'".into(),
            ));
        }
        (Some(t), _) => Some(t.clone()),
        (None, true) => None,
        (None, false) => Some(new_token()?),
    };
    let listener = server::bind(SocketAddr::new(args.bind, args.port)).await?;
    let local = listener.local_addr().map_err(|source| Error::Listen {
        addr: args.bind.to_string(),
        source,
    })?;
    let shown: IpAddr = if local.ip().is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        local.ip()
    };
    let host = match shown {
        IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    };
    let path = if args.no_page { "metrics" } else { "" };
    let mut url = format!("http://{host}:{}/{path}", local.port());
    if let Some(t) = &token {
        url.push_str(&format!("?token={t}"));
    }
    let app = App::new(hub, Access { token, loopback }).with_page(!args.no_page);
    tokio::spawn(async move {
        if let Err(e) = server::serve(listener, app).await {
            eprintln!("gcviz: the page stopped: {e}");
        }
    });
    let note = if local.ip().is_unspecified() {
        " (listening on all interfaces)"
    } else {
        ""
    };
    if args.no_page {
        eprintln!("gcviz: metrics at {url}{note}");
    } else {
        eprintln!("gcviz: live page at {url}{note}");
    }
    if args.open {
        open_browser(&url);
    }
    Ok(url)
}

/// Opens the URL with the desktop's opener, on its own thread: ingestion
/// never waits for a browser to start.
fn open_browser(url: &str) {
    let url = url.to_string();
    std::thread::spawn(move || {
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        };
        let res = std::process::Command::new(opener)
            .arg(&url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if !res.is_ok_and(|s| s.success()) {
            eprintln!("gcviz: could not open a browser; open {url} yourself");
        }
    });
}

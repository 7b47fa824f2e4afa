//! Starting the page for any mode: settings checked once, the token made when
//! needed, the URL printed, the browser opened without delaying anything.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::cli::ServeArgs;
use crate::error::{Error, Result};
use crate::store::hub::Hub;
use crate::web::server::{self, Access, App};

/// The shortest token accepted: a guessable token is no protection.
pub const MIN_TOKEN: usize = 16;

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
            if t.len() < MIN_TOKEN
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b)) =>
        {
            return Err(Error::Usage(format!(
                "--token must be at least {MIN_TOKEN} letters, digits, '-', '_', '.' or '~'"
            )));
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
    let path = if args.no_page { "metrics" } else { "" };
    let query = token
        .as_ref()
        .map(|t| format!("?token={t}"))
        .unwrap_or_default();
    let urls: Vec<String> = hosts_to_show(local.ip())
        .iter()
        .map(|host| format!("http://{host}:{}/{path}{query}", local.port()))
        .collect();
    let url = urls[0].clone();
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
    let what = if args.no_page { "metrics" } else { "live page" };
    eprintln!("gcviz: {what} at {url}{note}");
    for other in &urls[1..] {
        eprintln!("gcviz:           or {other}");
    }
    if args.open {
        // This machine's own browser: the last URL (loopback, or the one address).
        open_browser(&urls[urls.len() - 1]);
    }
    Ok(url)
}

/// The hosts to put in the printed URLs: the address itself, or for an
/// address that means "all of this machine's", names another machine can
/// reach it by (its host name, its outward address), then loopback.
fn hosts_to_show(ip: IpAddr) -> Vec<String> {
    let bracket = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    };
    if !ip.is_unspecified() {
        return vec![bracket(ip)];
    }
    let mut hosts = Vec::new();
    let name = rustix::system::uname();
    let name = name.nodename().to_string_lossy();
    // Only a name that resolves: a URL that does not open helps nobody.
    let resolves = |n: &str| {
        use std::net::ToSocketAddrs;
        (n, 0)
            .to_socket_addrs()
            .is_ok_and(|mut a| a.next().is_some())
    };
    if !name.is_empty() && name != "localhost" && resolves(&name) {
        hosts.push(name.into_owned());
    }
    if let Some(outward) = outward_address(ip.is_ipv6()) {
        hosts.push(bracket(outward));
    }
    hosts.push(bracket(if ip.is_ipv6() {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }));
    hosts
}

/// The address this machine would use to reach other machines: a UDP socket
/// "connected" to a public address (nothing is sent) learns it from the
/// routing table. None without a route.
fn outward_address(v6: bool) -> Option<IpAddr> {
    let (local, remote): (SocketAddr, SocketAddr) = if v6 {
        (
            (Ipv6Addr::UNSPECIFIED, 0).into(),
            (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 9).into(),
        )
    } else {
        (
            (Ipv4Addr::UNSPECIFIED, 0).into(),
            (Ipv4Addr::new(192, 0, 2, 1), 9).into(),
        )
    };
    let socket = std::net::UdpSocket::bind(local).ok()?;
    socket.connect(remote).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
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

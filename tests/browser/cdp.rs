//! A small Chrome DevTools Protocol client over Chromium's debugging pipe
//! (`--remote-debugging-pipe`: JSON messages separated by NUL bytes on file
//! descriptors 3 and 4), and a page handle with what the tests need.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long one protocol call may take before the test gives up.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Flags for Debian's Chromium running headless as root, talking on the pipe.
/// Background throttling is off because several tests' pages are open at once
/// and the page draws (and becomes ready) in animation frames.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    "--remote-debugging-pipe",
];

/// Replies waiting for their caller and events waiting for their page.
#[derive(Default)]
struct Inbox {
    replies: HashMap<u64, Value>,
    /// Events by session id; browser-level events are not kept.
    events: HashMap<String, Vec<Value>>,
    /// Chromium closed its end of the pipe.
    closed: bool,
}

type Shared = Arc<(Mutex<Inbox>, Condvar)>;

/// One Chromium process shared by the tests of a binary.
pub struct Browser {
    to_chrome: Mutex<ChildStdin>,
    next_id: AtomicU64,
    inbox: Shared,
    process: Mutex<Child>,
    /// Chromium's own log.
    log: PathBuf,
}

impl Browser {
    /// Starts `exe` with a fresh profile under `tmp`; Chromium's own log goes
    /// to `log`. Chromium quits when its pipe closes, which the kernel does
    /// when this process ends however it ends, and a shell then removes the
    /// profile: nothing outlives the test binary.
    pub fn launch(exe: &Path, tmp: &Path, log: &Path) -> Browser {
        let profile = tempfile::Builder::new()
            .prefix("chromium-profile-")
            .tempdir_in(tmp)
            .expect("creating a Chromium profile directory")
            .keep();
        let mut process = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" "$@" 3<&0 4>&1 </dev/null >&2; rm -rf "$GCVIZ_TEST_PROFILE""#)
            .arg(exe)
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .env("GCVIZ_TEST_PROFILE", &profile)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).expect("creating the Chromium log"))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", exe.display()));
        let from_chrome = BufReader::new(process.stdout.take().unwrap());
        let inbox = Shared::default();
        let shared = inbox.clone();
        std::thread::spawn(move || read_loop(from_chrome, &shared));
        let browser = Browser {
            to_chrome: Mutex::new(process.stdin.take().unwrap()),
            next_id: AtomicU64::new(1),
            inbox,
            process: Mutex::new(process),
            log: log.to_path_buf(),
        };
        browser
            .call(None, "Browser.getVersion", json!({}))
            .unwrap_or_else(|e| panic!("Chromium did not start ({e}); see {}", log.display()));
        browser
    }

    /// Sends one command (to a page when `session` is given) and waits for its reply.
    pub fn call(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        {
            let mut pipe = self.to_chrome.lock().unwrap_or_else(|e| e.into_inner());
            pipe.write_all(&bytes)
                .and_then(|()| pipe.flush())
                .map_err(|e| self.gone(format!("{method}: writing to Chromium: {e}")))?;
        }
        let (lock, cond) = &*self.inbox;
        let deadline = Instant::now() + CALL_TIMEOUT;
        let mut inbox = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(reply) = inbox.replies.remove(&id) {
                return match reply.get("error") {
                    Some(err) => Err(format!("{method}: {err}")),
                    None => Ok(reply.get("result").cloned().unwrap_or(Value::Null)),
                };
            }
            if inbox.closed {
                drop(inbox);
                return Err(self.gone(format!("{method}: Chromium closed the pipe")));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("{method}: no answer in {CALL_TIMEOUT:?}"));
            }
            inbox = cond
                .wait_timeout(inbox, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Chromium has ended (its pipe closed, or its process is gone).
    fn ended(&self) -> bool {
        let closed = self
            .inbox
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .closed;
        closed
            || !matches!(
                self.process
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .try_wait(),
                Ok(None)
            )
    }

    /// `what` went wrong because Chromium is gone: how it ended, and the end
    /// of its log.
    fn gone(&self, what: String) -> String {
        let mut process = self.process.lock().unwrap_or_else(|e| e.into_inner());
        // Its shell removes the profile before it ends: wait a little.
        let deadline = Instant::now() + Duration::from_secs(5);
        let status = loop {
            match process.try_wait() {
                Ok(Some(status)) => break format!("it ended: {status}"),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Ok(None) => break "it is still running".to_string(),
                Err(e) => break format!("waiting for it: {e}"),
            }
        };
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        format!(
            "{what}; {status}; the end of its log ({}):\n{tail}",
            self.log.display()
        )
    }

    fn take_events(&self, session: &str) -> Vec<Value> {
        let mut inbox = self.inbox.0.lock().unwrap_or_else(|e| e.into_inner());
        inbox.events.remove(session).unwrap_or_default()
    }

    /// A new tab in its own browser context (its own storage), 1280x1000.
    pub fn new_page(&self) -> Page<'_> {
        let call = |method: &str, params: Value| {
            self.call(None, method, params)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let context = call("Target.createBrowserContext", json!({}))["browserContextId"].clone();
        let target = call(
            "Target.createTarget",
            json!({ "url": "about:blank", "browserContextId": context }),
        )["targetId"]
            .clone();
        let session = call(
            "Target.attachToTarget",
            json!({ "targetId": target, "flatten": true }),
        )["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        let mut page = Page {
            browser: self,
            session,
            target,
            context,
            problems: Vec::new(),
        };
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            page.call(domain, json!({}));
        }
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": false }),
        );
        page
    }
}

fn read_loop(mut from_chrome: impl BufRead, inbox: &Shared) {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let ended = !matches!(from_chrome.read_until(0, &mut buf), Ok(n) if n > 0);
        if buf.last() == Some(&0) {
            buf.pop();
        }
        let msg: Option<Value> = serde_json::from_slice(&buf).ok();
        let (lock, cond) = &**inbox;
        let mut inbox = lock.lock().unwrap_or_else(|e| e.into_inner());
        match msg {
            Some(m) if m.get("id").is_some() => {
                let id = m["id"].as_u64().unwrap_or(0);
                inbox.replies.insert(id, m);
            }
            Some(m) => {
                if let Some(s) = m.get("sessionId").and_then(Value::as_str) {
                    inbox.events.entry(s.to_string()).or_default().push(m);
                }
            }
            None => {}
        }
        inbox.closed |= ended;
        cond.notify_all();
        if ended {
            return;
        }
    }
}

/// A tab; closed (with its browser context) when dropped.
pub struct Page<'b> {
    browser: &'b Browser,
    session: String,
    target: Value,
    context: Value,
    /// Console errors, uncaught exceptions and error log entries (CSP
    /// violations, failed loads) seen so far.
    problems: Vec<String>,
}

impl Page<'_> {
    pub fn try_call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let res = self.browser.call(Some(&self.session), method, params);
        self.collect();
        res
    }

    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn collect(&mut self) {
        for ev in self.browser.take_events(&self.session) {
            let p = &ev["params"];
            let problem = match ev["method"].as_str() {
                Some("Runtime.consoleAPICalled")
                    if matches!(p["type"].as_str(), Some("error" | "assert")) =>
                {
                    let args: Vec<String> = p["args"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| match &a["value"] {
                            Value::String(s) => s.clone(),
                            Value::Null => a["description"].as_str().unwrap_or("?").to_string(),
                            v => v.to_string(),
                        })
                        .collect();
                    Some(format!("console.error: {}", args.join(" ")))
                }
                Some("Runtime.exceptionThrown") => {
                    let d = &p["exceptionDetails"];
                    let text = d["exception"]["description"]
                        .as_str()
                        .or(d["text"].as_str())
                        .unwrap_or("?");
                    Some(format!("uncaught exception: {text}"))
                }
                Some("Log.entryAdded") if p["entry"]["level"] == "error" => Some(format!(
                    "log ({}): {} {}",
                    p["entry"]["source"].as_str().unwrap_or("?"),
                    p["entry"]["text"].as_str().unwrap_or("?"),
                    p["entry"]["url"].as_str().unwrap_or("")
                )),
                _ => None,
            };
            self.problems.extend(problem);
        }
    }

    /// Everything that went wrong on the page so far, as a person with the
    /// developer tools open would see it.
    pub fn problems(&mut self) -> Vec<String> {
        self.collect();
        self.problems.clone()
    }

    /// Runs `script` before the page's own scripts in every document loaded from now on.
    pub fn before_scripts(&mut self, script: &str) {
        self.call(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": script }),
        );
    }

    pub fn navigate(&mut self, url: &str) {
        let res = self.call("Page.navigate", json!({ "url": url }));
        if let Some(err) = res.get("errorText") {
            panic!("opening {url}: {err}");
        }
    }

    /// The value of a JavaScript expression (promises awaited).
    pub fn try_eval(&mut self, expr: &str) -> Result<Value, String> {
        let res = self.try_call(
            "Runtime.evaluate",
            json!({ "expression": expr, "returnByValue": true, "awaitPromise": true }),
        )?;
        if let Some(ex) = res.get("exceptionDetails") {
            let text = ex["exception"]["description"]
                .as_str()
                .or(ex["text"].as_str())
                .unwrap_or("?");
            return Err(format!("{expr}: {text}"));
        }
        Ok(res["result"].get("value").cloned().unwrap_or(Value::Null))
    }

    pub fn eval(&mut self, expr: &str) -> Value {
        self.try_eval(expr).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Polls `expr` until it is truthy and returns its value. The timeout
    /// only keeps a broken page from hanging the suite; it is not a measure.
    pub fn wait_for(&mut self, what: &str, expr: &str, timeout: Duration) -> Value {
        let start = Instant::now();
        loop {
            // Errors while a document is being replaced are expected: retry,
            // unless the browser itself is gone.
            let last = self.try_eval(expr);
            match &last {
                Ok(v) if truthy(v) => return v.clone(),
                Err(e) if self.browser.ended() => panic!("waiting for {what}: {e}"),
                _ => {}
            }
            if start.elapsed() > timeout {
                panic!(
                    "timed out after {timeout:?} waiting for {what}: `{expr}` was {last:?}; page problems: {:?}",
                    self.problems()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A real mouse click in the middle of the element `selector` selects.
    pub fn click(&mut self, selector: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        let at = self.eval(&format!(
            "(() => {{ const r = document.querySelector({sel}).getBoundingClientRect(); \
             return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ));
        let (x, y) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            );
        }
    }

    /// A real mouse drag with the left button from one point to another.
    pub fn drag(&mut self, from: (f64, f64), to: (f64, f64)) {
        let mouse = |page: &mut Self, kind: &str, (x, y): (f64, f64), buttons: u32| {
            page.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "buttons": buttons, "clickCount": 1 }),
            );
        };
        mouse(self, "mouseMoved", from, 0);
        mouse(self, "mousePressed", from, 1);
        for i in 1..=5 {
            let f = f64::from(i) / 5.0;
            let at = (from.0 + (to.0 - from.0) * f, from.1 + (to.1 - from.1) * f);
            mouse(self, "mouseMoved", at, 1);
        }
        mouse(self, "mouseReleased", to, 0);
    }

    /// Moves the mouse to a point, no button pressed.
    pub fn hover(&mut self, x: f64, y: f64) {
        self.call(
            "Input.dispatchMouseEvent",
            json!({ "type": "mouseMoved", "x": x, "y": y }),
        );
    }

    /// A real double click in the middle of the element `selector` selects.
    pub fn double_click(&mut self, selector: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        let at = self.eval(&format!(
            "(() => {{ const r = document.querySelector({sel}).getBoundingClientRect(); \
             return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ));
        let (x, y) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
        for count in [1, 2] {
            for kind in ["mousePressed", "mouseReleased"] {
                self.call(
                    "Input.dispatchMouseEvent",
                    json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": count }),
                );
            }
        }
    }

    /// Saves what the page shows as a PNG.
    pub fn screenshot(&mut self, path: &Path) {
        let res = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let png = base64_decode(res["data"].as_str().expect("screenshot data"));
        std::fs::write(path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}

impl Drop for Page<'_> {
    fn drop(&mut self) {
        let b = self.browser;
        let _ = b.call(
            None,
            "Target.closeTarget",
            json!({ "targetId": self.target }),
        );
        let _ = b.call(
            None,
            "Target.disposeBrowserContext",
            json!({ "browserContextId": self.context }),
        );
        b.take_events(&self.session);
    }
}

pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Standard base64 (the protocol's encoding of binary data).
pub fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {:?}", c as char),
    };
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=').map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &d)| acc | u32::from(d) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

#[test]
fn base64_decodes_every_padding() {
    assert_eq!(base64_decode("TWFu"), b"Man");
    assert_eq!(base64_decode("TWE="), b"Ma");
    assert_eq!(base64_decode("TQ=="), b"M");
    assert_eq!(base64_decode(""), b"");
}

//! Saved interactive sessions, so `lode --resume` can bring back a conversation after the
//! terminal closed. Each session is one JSON Lines file under
//! `<data_dir>/sessions/<workspace id>/`, appended record by record as the session goes: a
//! crash loses at most the line being written, and loading skips a damaged line instead of
//! refusing the whole file. The transcript (what was shown) and the conversation (what the
//! model saw) are stored side by side, because compaction makes them differ.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::agent::AgentEvent;
use crate::backend::Message;

pub mod export;
mod recorder;
pub use recorder::Recorder;

/// Version written into every header; files of another version are refused, not guessed at.
pub const FORMAT_VERSION: u32 = 1;

const EXTENSION: &str = "jsonl";
const TITLE_CHARS: usize = 80;

/// The directory name of the workspace at `root` under per-workspace data directories (the
/// same scheme as the undo journal, so one workspace has one id everywhere).
pub fn workspace_id(root: &Path) -> String {
    blake3::hash(root.as_os_str().as_encoded_bytes()).to_hex()[..16].to_string()
}

/// One line of a session file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// First line of every file.
    Header {
        version: u32,
        id: String,
        workspace: PathBuf,
        created_unix: u64,
    },
    /// What the user typed.
    User { text: String },
    /// An agent event as the transcript showed it (front ends coalesce streamed tokens into
    /// one `TokenStream` event per answer before saving).
    Event { event: AgentEvent },
    /// One conversation message, appended as the agent adds it; resuming restores the
    /// conversation from these.
    Message { message: Message },
    /// The conversation was replaced (cleared or compacted): every earlier `Message` record
    /// is superseded by these.
    Messages { messages: Vec<Message> },
}

/// Why a saved session could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no saved session `{id}` in {}; `lode --resume` lists them", dir.display())]
    NotFound { id: String, dir: PathBuf },
    #[error("session id `{id}` is ambiguous: it matches {}; give more characters", matches.join(", "))]
    Ambiguous { id: String, matches: Vec<String> },
    #[error("saved session {} cannot be resumed: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("cannot read saved session {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// A saved session as `lode --resume` lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionSummary {
    pub id: String,
    pub path: PathBuf,
    pub created_unix: u64,
    pub modified_unix: u64,
    /// First line of the first `User` record, at most 80 chars (cut ones end in "…").
    pub title: String,
    pub user_messages: usize,
}

/// A loaded session file.
#[derive(Clone, Debug, PartialEq)]
pub struct SavedSession {
    pub id: String,
    pub path: PathBuf,
    /// Every parsed record, the header first.
    pub records: Vec<Record>,
    /// Lines that could not be parsed (a crash mid-write leaves a partial last line).
    pub skipped_lines: usize,
}

impl SavedSession {
    /// The conversation to restore: `Message` records in order, with a `Messages` record
    /// replacing everything before it.
    pub fn messages(&self) -> Vec<Message> {
        let mut out = Vec::new();
        for record in &self.records {
            match record {
                Record::Message { message } => out.push(message.clone()),
                Record::Messages { messages } => out.clone_from(messages),
                _ => {}
            }
        }
        out
    }
}

/// The saved sessions of one workspace.
#[derive(Clone, Debug)]
pub struct SessionStore {
    dir: PathBuf,
    workspace: PathBuf,
}

impl SessionStore {
    /// The sessions of the workspace at `workspace_root`, kept under `data_dir`.
    pub fn new(data_dir: &Path, workspace_root: &Path) -> Self {
        Self {
            dir: data_dir.join("sessions").join(workspace_id(workspace_root)),
            workspace: workspace_root.to_path_buf(),
        }
    }

    /// Where this workspace's session files live.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts a new session file and writes its header. Ids sort by creation time
    /// (`YYYYMMDD-HHMMSS-xxxx`, UTC).
    pub fn create(&self) -> io::Result<SessionWriter> {
        self.create_at(SystemTime::now())
    }

    fn create_at(&self, now: SystemTime) -> io::Result<SessionWriter> {
        fs::create_dir_all(&self.dir)?;
        let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        // The suffix only has to differ between sessions started in the same second;
        // `create_new` catches the rare clash and the attempt number moves the hash on.
        for attempt in 0u32..64 {
            let id = session_id(
                since_epoch.as_secs(),
                &suffix(since_epoch.as_nanos(), attempt),
            );
            let path = self.dir.join(format!("{id}.{EXTENSION}"));
            let file = match OpenOptions::new().append(true).create_new(true).open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            };
            let mut writer = SessionWriter { id, path, file };
            writer.append(&Record::Header {
                version: FORMAT_VERSION,
                id: writer.id.clone(),
                workspace: self.workspace.clone(),
                created_unix: since_epoch.as_secs(),
            })?;
            return Ok(writer);
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "could not pick a free session id in {} after 64 tries",
                self.dir.display()
            ),
        ))
    }

    /// Sessions of this workspace, newest first (by file mtime). Files that cannot be read or
    /// have no valid header are skipped, and so are sessions without any `User` record
    /// (nothing to resume).
    pub fn list(&self) -> io::Result<Vec<SessionSummary>> {
        let mut out: Vec<SessionSummary> = self
            .session_files()?
            .into_iter()
            .filter_map(|(id, path)| summarize(id, path))
            .filter(|s| s.user_messages > 0)
            .collect();
        out.sort_by(|a, b| {
            b.modified_unix
                .cmp(&a.modified_unix)
                .then_with(|| b.id.cmp(&a.id))
        });
        Ok(out)
    }

    /// Loads a session by id or unique id prefix.
    pub fn load(&self, id: &str) -> Result<SavedSession, SessionError> {
        let (id, path) = self.resolve(id)?;
        let bytes = fs::read(&path).map_err(|source| SessionError::Io {
            path: path.clone(),
            source,
        })?;
        let mut lines = bytes.split(|&b| b == b'\n');
        let header = lines.next().unwrap_or_default();
        let mut records = vec![
            parse_header(header).map_err(|reason| SessionError::Corrupt {
                path: path.clone(),
                reason,
            })?,
        ];
        let mut skipped_lines = 0;
        for line in lines.filter(|l| !l.iter().all(u8::is_ascii_whitespace)) {
            match serde_json::from_slice::<Record>(line) {
                Ok(record) => records.push(record),
                Err(_) => skipped_lines += 1,
            }
        }
        Ok(SavedSession {
            id,
            path,
            records,
            skipped_lines,
        })
    }

    /// Reopens a saved session to append to it (after a resume).
    pub fn append_to(&self, id: &str) -> Result<SessionWriter, SessionError> {
        // Loading checks the header, so a file lode cannot resume is not extended either.
        let SavedSession { id, path, .. } = self.load(id)?;
        match open_for_append(&path) {
            Ok(file) => Ok(SessionWriter { id, path, file }),
            Err(source) => Err(SessionError::Io { path, source }),
        }
    }

    /// `(id, path)` of every session file; a missing directory is an empty store.
    fn session_files(&self) -> io::Result<Vec<(String, PathBuf)>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == EXTENSION))
            .filter_map(|path| {
                let id = path.file_stem()?.to_str()?.to_string();
                Some((id, path))
            })
            .collect())
    }

    /// Finds a session by exact id or unique prefix. Only names found in the directory are
    /// used, so an id like `../x` can never reach outside it.
    fn resolve(&self, id: &str) -> Result<(String, PathBuf), SessionError> {
        let not_found = || SessionError::NotFound {
            id: id.to_string(),
            dir: self.dir.clone(),
        };
        if id.is_empty() {
            return Err(not_found());
        }
        let files = self.session_files().map_err(|source| SessionError::Io {
            path: self.dir.clone(),
            source,
        })?;
        if let Some(exact) = files.iter().find(|(name, _)| name == id) {
            return Ok(exact.clone());
        }
        let mut matches: Vec<(String, PathBuf)> = files
            .into_iter()
            .filter(|(name, _)| name.starts_with(id))
            .collect();
        match matches.len() {
            0 => Err(not_found()),
            1 => Ok(matches.remove(0)),
            _ => {
                let mut ids: Vec<String> = matches.into_iter().map(|(name, _)| name).collect();
                ids.sort();
                Err(SessionError::Ambiguous {
                    id: id.to_string(),
                    matches: ids,
                })
            }
        }
    }
}

/// Appends records to one session file.
#[derive(Debug)]
pub struct SessionWriter {
    id: String,
    path: PathBuf,
    file: File,
}

impl SessionWriter {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record as one line and flushes, so a crash loses at most the line being
    /// written.
    pub fn append(&mut self, record: &Record) -> io::Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        // One write per line: a reader never sees half of one record followed by another.
        self.file.write_all(&line)?;
        self.file.flush()
    }
}

/// Opens `path` for appending lines, creating it. A file left without a final newline (a
/// crash mid-write) first gets one, so the next line does not merge into the broken one.
pub(crate) fn open_for_append(path: &Path) -> io::Result<File> {
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    if file.metadata()?.len() > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::End(-1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            file.write_all(b"\n")?;
        }
    }
    Ok(file)
}

/// Seconds since the Unix epoch now (0 on a clock set before 1970).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// "just now", "5 min ago", "3 h ago", "2 days ago" (`now` and `then` in unix seconds).
pub fn age(now_unix: u64, then_unix: u64) -> String {
    let secs = now_unix.saturating_sub(then_unix);
    match secs {
        0..60 => "just now".to_string(),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        _ => match secs / 86_400 {
            1 => "1 day ago".to_string(),
            days => format!("{days} days ago"),
        },
    }
}

/// `YYYYMMDD-HHMMSS-xxxx` for `unix_secs` (UTC) and a 4-hex-char suffix.
fn session_id(unix_secs: u64, suffix: &str) -> String {
    let (year, month, day) = civil_from_days(unix_secs / 86_400);
    let secs = unix_secs % 86_400;
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}-{suffix}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn suffix(nanos: u128, attempt: u32) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&nanos.to_le_bytes());
    hasher.update(&std::process::id().to_le_bytes());
    hasher.update(&attempt.to_le_bytes());
    hasher.finalize().to_hex()[..4].to_string()
}

/// Gregorian (year, month, day) of a day count since 1970-01-01 — Howard Hinnant's
/// `civil_from_days`, restricted to dates after the epoch.
pub(crate) fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Checks the first line of a file; `Err` says what is wrong and what to do.
fn parse_header(line: &[u8]) -> Result<Record, String> {
    let not_header = || {
        "its first line is not a lode session header (the file is damaged or was not written \
         by lode); delete it"
            .to_string()
    };
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err("the file is empty (lode stopped while creating it); delete it".to_string());
    }
    let value: serde_json::Value = serde_json::from_slice(line).map_err(|_| not_header())?;
    if value.get("kind").and_then(|k| k.as_str()) != Some("header") {
        return Err(not_header());
    }
    // Checked before the full parse, so a newer layout reports its version, not a field.
    match value.get("version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(FORMAT_VERSION) => {}
        Some(v) => {
            return Err(format!(
                "it has format version {v} and this lode reads version {FORMAT_VERSION}; \
                 resume it with the lode version that wrote it"
            ))
        }
        None => return Err(not_header()),
    }
    serde_json::from_value(value).map_err(|_| not_header())
}

/// Reads just enough of a file to list it; `None` for anything unreadable or headerless.
fn summarize(id: String, path: PathBuf) -> Option<SessionSummary> {
    // Only the fields the listing needs; event payloads are skipped over, not built.
    #[derive(Deserialize)]
    struct Peek {
        kind: String,
        #[serde(default)]
        text: Option<String>,
    }
    let file = File::open(&path).ok()?;
    let modified_unix = file
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let mut lines = BufReader::new(file).split(b'\n');
    let Record::Header { created_unix, .. } = parse_header(&lines.next()?.ok()?).ok()? else {
        return None;
    };
    let mut title = None;
    let mut user_messages = 0;
    for line in lines {
        let Ok(peek) = serde_json::from_slice::<Peek>(&line.ok()?) else {
            continue;
        };
        if peek.kind == "user" {
            user_messages += 1;
            if title.is_none() {
                title = peek.text.as_deref().map(title_of);
            }
        }
    }
    Some(SessionSummary {
        id,
        path,
        created_unix,
        modified_unix,
        title: title.unwrap_or_default(),
        user_messages,
    })
}

/// The first non-blank line of `text`, cut to [`TITLE_CHARS`] characters.
fn title_of(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    if line.chars().count() <= TITLE_CHARS {
        return line.to_string();
    }
    let mut cut: String = line.chars().take(TITLE_CHARS - 1).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::Outcome;
    use pretty_assertions::assert_eq;
    use std::time::Duration;

    fn store(dir: &Path) -> SessionStore {
        SessionStore::new(dir, Path::new("/work/repo"))
    }

    fn at(unix: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(unix)
    }

    fn user(text: &str) -> Record {
        Record::User { text: text.into() }
    }

    fn msg(message: Message) -> Record {
        Record::Message { message }
    }

    /// A session created at `modified - 10` with the given inputs, last modified at `modified`.
    fn saved(store: &SessionStore, inputs: &[&str], modified: u64) -> String {
        let mut writer = store.create_at(at(modified - 10)).unwrap();
        for input in inputs {
            writer.append(&user(input)).unwrap();
        }
        let file = File::options().write(true).open(writer.path()).unwrap();
        file.set_modified(at(modified)).unwrap();
        writer.id().to_string()
    }

    #[test]
    fn create_append_load_roundtrip() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        assert!(store.dir().ends_with(workspace_id(Path::new("/work/repo"))));
        let mut writer = store.create_at(at(86_400)).unwrap();
        let id = writer.id().to_string();
        let finished = AgentEvent::Finished {
            outcome: Outcome::Done,
            message: "done".into(),
        };
        let body = vec![
            user("fix the bug\nin parser.rs"),
            msg(Message::user("fix the bug")),
            Record::Event {
                event: AgentEvent::TokenStream {
                    turn: 1,
                    text: "Looking…".into(),
                },
            },
            Record::Event { event: finished },
            msg(Message::assistant("done")),
        ];
        for record in &body {
            writer.append(record).unwrap();
        }
        let header = Record::Header {
            version: FORMAT_VERSION,
            id: id.clone(),
            workspace: PathBuf::from("/work/repo"),
            created_unix: 86_400,
        };
        let loaded = store.load(&id).unwrap();
        let expected = SavedSession {
            id: id.clone(),
            path: writer.path().to_path_buf(),
            records: [vec![header], body].concat(),
            skipped_lines: 0,
        };
        assert_eq!(loaded, expected);
        assert_eq!(loaded.path, store.dir().join(format!("{id}.jsonl")));
        let conversation = vec![Message::user("fix the bug"), Message::assistant("done")];
        assert_eq!(loaded.messages(), conversation);
    }

    #[test]
    fn list_is_newest_first_with_titles_and_skips_sessions_without_input() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        assert_eq!(store.list().unwrap(), vec![]);
        let long = "x".repeat(100);
        let old = saved(&store, &["\n  first task  \nmore detail", "again"], 1_000);
        let new = saved(&store, &[&long], 2_000);
        saved(&store, &[], 3_000);
        fs::write(store.dir().join("junk.jsonl"), "not json\n").unwrap();
        fs::write(store.dir().join("notes.txt"), "ignored").unwrap();
        let summary = |id: &str, modified_unix, title: String, user_messages| SessionSummary {
            id: id.to_string(),
            path: store.dir().join(format!("{id}.jsonl")),
            created_unix: modified_unix - 10,
            modified_unix,
            title,
            user_messages,
        };
        let expected = vec![
            summary(&new, 2_000, format!("{}…", "x".repeat(79)), 1),
            summary(&old, 1_000, "first task".to_string(), 2),
        ];
        assert_eq!(store.list().unwrap(), expected);
    }

    #[test]
    fn load_by_unique_prefix_and_report_ambiguity() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        let a = store.create_at(at(86_400)).unwrap();
        let b = store.create_at(at(86_401)).unwrap();
        assert_eq!(store.load("19700102-000000").unwrap().id, a.id());
        assert_eq!(store.load(b.id()).unwrap().id, b.id());
        let ambiguous = store.load("19700102-00000").unwrap_err().to_string();
        let message = format!(
            "session id `19700102-00000` is ambiguous: it matches {}, {}; give more characters",
            a.id(),
            b.id()
        );
        assert_eq!(ambiguous, message);
        for missing in ["2099", "", "../sessions"] {
            let err = store.load(missing).unwrap_err();
            assert!(matches!(err, SessionError::NotFound { .. }), "{err:?}");
        }
        let message = format!(
            "no saved session `2099` in {}; `lode --resume` lists them",
            store.dir().display()
        );
        assert_eq!(store.load("2099").unwrap_err().to_string(), message);
    }

    #[test]
    fn truncated_last_line_is_skipped_and_appending_starts_a_fresh_line() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        let mut writer = store.create().unwrap();
        writer.append(&user("one")).unwrap();
        let id = writer.id().to_string();
        let mut file = File::options().append(true).open(writer.path()).unwrap();
        drop(writer);
        file.write_all(br#"{"kind":"user","te"#).unwrap();
        let loaded = store.load(&id).unwrap();
        assert_eq!(
            (loaded.skipped_lines, &loaded.records[1..]),
            (1, &[user("one")][..])
        );

        let mut writer = store.append_to(&id).unwrap();
        writer.append(&user("two")).unwrap();
        let loaded = store.load(&id).unwrap();
        let records = [user("one"), user("two")];
        assert_eq!(
            (loaded.skipped_lines, &loaded.records[1..]),
            (1, &records[..])
        );
    }

    #[test]
    fn messages_record_supersedes_earlier_messages() {
        let summary = Message::system("summary of a and b");
        let session = SavedSession {
            id: "x".to_string(),
            path: PathBuf::from("x.jsonl"),
            records: vec![
                msg(Message::user("a")),
                msg(Message::assistant("b")),
                Record::Messages {
                    messages: vec![summary.clone()],
                },
                user("c"),
                msg(Message::user("c")),
            ],
            skipped_lines: 0,
        };
        assert_eq!(session.messages(), vec![summary, Message::user("c")]);
    }

    #[test]
    fn bad_headers_are_corrupt_and_say_what_to_do() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        fs::create_dir_all(store.dir()).unwrap();
        let cases = [
            ("empty", "", "the file is empty"),
            (
                "user",
                r#"{"kind":"user","text":"x"}"#,
                "not a lode session header",
            ),
            (
                "v2",
                r#"{"kind":"header","version":2}"#,
                "format version 2 and this lode reads version 1",
            ),
        ];
        for (id, content, reason_part) in cases {
            fs::write(store.dir().join(format!("{id}.jsonl")), content).unwrap();
            match store.load(id) {
                Err(SessionError::Corrupt { reason, .. }) => {
                    assert!(reason.contains(reason_part), "{id}: {reason}")
                }
                other => panic!("{id}: expected Corrupt, got {other:?}"),
            }
            let appended = store.append_to(id);
            assert!(
                matches!(appended, Err(SessionError::Corrupt { .. })),
                "{id}"
            );
        }
    }

    #[test]
    fn two_creates_in_the_same_second_get_different_ids() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(tmp.path());
        // The same instant twice: the suffix hash collides and the retry must move it on.
        let now = SystemTime::now();
        let (a, b) = (store.create_at(now).unwrap(), store.create_at(now).unwrap());
        assert!(a.id() != b.id());
        assert_eq!(a.id()[..15], b.id()[..15]);
    }

    #[test]
    fn id_is_utc_date_time_and_four_hex_chars() {
        assert_eq!(session_id(0, "abcd"), "19700101-000000-abcd");
        assert_eq!(session_id(951_782_400, "0000"), "20000229-000000-0000");
        assert_eq!(session_id(1_709_251_199, "0000"), "20240229-235959-0000");
        assert_eq!(session_id(4_102_444_800, "0000"), "21000101-000000-0000");
        let tmp = tempfile::tempdir().unwrap();
        let id = store(tmp.path()).create().unwrap().id().to_string();
        let (date, suffix) = id.split_at(16);
        assert!(date.chars().all(|c| c.is_ascii_digit() || c == '-'), "{id}");
        assert_eq!((date.as_bytes()[8], date.as_bytes()[15]), (b'-', b'-'));
        assert!(
            suffix.len() == 4 && suffix.chars().all(|c| c.is_ascii_hexdigit()),
            "{id}"
        );
    }

    #[test]
    fn age_table() {
        let cases = [
            (0, "just now"),
            (59, "just now"),
            (60, "1 min ago"),
            (330, "5 min ago"),
            (3599, "59 min ago"),
            (3600, "1 h ago"),
            (86_399, "23 h ago"),
            (86_400, "1 day ago"),
            (2 * 86_400 + 5, "2 days ago"),
            (400 * 86_400, "400 days ago"),
        ];
        for (ago, text) in cases {
            assert_eq!(age(1_000_000_000, 1_000_000_000 - ago), text, "{ago} s");
        }
        assert_eq!(age(100, 200), "just now", "a clock that went backwards");
    }
}

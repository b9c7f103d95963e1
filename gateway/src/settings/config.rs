//! The JSON config file (`--config FILE`) and its merge with the command line.
//!
//! Owns [`parse_args`]: the command line is parsed with clap; when it names a config file, the
//! file's keys (the long flag names, `workers` or `max-requests`/`max_requests`, plus `app` for
//! the positional APP_LIBRARY) are type-checked and turned into flags, and the command line is
//! parsed again with them. A setting given on the command line wins over the file; for the
//! repeatable flags (`--bind`, `--mount`) any command-line occurrence replaces the file's whole
//! list rather than adding to it.
//!
//! The valid keys come from clap's own description of [`Cli`], so a flag added to `cli.rs` is a
//! valid key without a change here. Errors in the file name the file and the key at fault; it
//! never panics on what a file holds.

use crate::settings::cli::Cli;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, CommandFactory, FromArgMatches};
use serde_json::{Map, Value};
use std::any::TypeId;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// Flags that configure the command line itself and so make no sense in a config file.
const COMMAND_LINE_ONLY: [&str; 2] = ["config", "check-config"];

/// Why the settings could not be read.
#[derive(Debug)]
pub enum ConfigError {
    /// The command line: a usage error, or `--help`/`--version` (kinds `DisplayHelp`,
    /// `DisplayVersion`). [`clap::Error::exit`] prints it the way clap does and exits with the
    /// right status (0 for help and version).
    Clap(clap::Error),
    /// The config file: unreadable, not JSON, an unknown key, or a value of the wrong type.
    File {
        /// The file as given to `--config`.
        path: PathBuf,
        /// What is wrong, naming the key at fault where there is one.
        message: String,
    },
}

impl ConfigError {
    fn file(path: &Path, message: impl Into<String>) -> ConfigError {
        ConfigError::File {
            path: path.to_owned(),
            message: message.into(),
        }
    }

    /// Reports the error and exits: clap errors as clap prints them (help and version to stdout
    /// with status 0, usage errors with status 2), file errors as one line on stderr with status 1.
    pub fn exit(self) -> ! {
        match self {
            ConfigError::Clap(error) => error.exit(),
            file_error => {
                eprintln!("nsgi-gateway: error: {file_error}");
                std::process::exit(1)
            }
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Clap(error) => write!(f, "{}", first_line(error)),
            ConfigError::File { path, message } => write!(f, "config file {}: {message}", path.display()),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Clap(error) => Some(error),
            ConfigError::File { .. } => None,
        }
    }
}

/// Parses the command line `args` (program name first, as [`std::env::args_os`] gives it) and
/// the config file it names with `--config`, if any.
///
/// The command line overrides the file: a flag given on it replaces the file's value, and a
/// `--bind` or `--mount` given on it replaces all of the file's `bind` or `mount` entries. A
/// boolean key set to `true` in the file cannot be turned off from the command line.
///
/// ```
/// use nsgi_gateway::config::{parse_args, ConfigError};
/// let cli = parse_args(vec!["nsgi-gateway".into(), "--workers".into(), "2".into()]).unwrap();
/// assert_eq!(cli.workers, Some(2));
/// let help = parse_args(vec!["nsgi-gateway".into(), "--help".into()]);
/// assert!(matches!(help, Err(ConfigError::Clap(e)) if e.kind() == clap::error::ErrorKind::DisplayHelp));
/// ```
pub fn parse_args(args: Vec<OsString>) -> Result<Cli, ConfigError> {
    let command_line = Cli::command().try_get_matches_from(&args).map_err(ConfigError::Clap)?;
    let cli = Cli::from_arg_matches(&command_line).map_err(ConfigError::Clap)?;
    let Some(path) = cli.config.clone() else {
        return Ok(cli);
    };
    let settings = read_file(&path)?;
    let merged = merge(&settings, &command_line, &path)?;

    let program = args.first().cloned().unwrap_or_else(|| OsString::from("nsgi-gateway"));
    let argv = std::iter::once(program)
        .chain(merged.flags)
        .chain(args.into_iter().skip(1));
    // The command line parsed alone, and every file key parsed alone, so a failure here is the
    // combination's; it is reported against the file.
    let matches = Cli::command()
        .try_get_matches_from(argv)
        .map_err(|e| ConfigError::file(&path, first_line(&e)))?;
    let mut cli = Cli::from_arg_matches(&matches).map_err(|e| ConfigError::file(&path, first_line(&e)))?;
    for (id, value) in merged.positionals {
        set_positional(&mut cli, &id, value).map_err(|message| ConfigError::file(&path, message))?;
    }
    Ok(cli)
}

/// A file's settings translated for the command line.
struct Merged {
    /// `--flag` and `--flag=value` tokens, for the keys the command line did not set.
    flags: Vec<OsString>,
    /// Positional values (by clap id) the command line did not set.
    positionals: Vec<(String, String)>,
}

/// What a key holds, from clap's description of its flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A flag without a value: `true` or `false`.
    Switch,
    /// A flag with one value, a whole number.
    Integer,
    /// A flag with one value, text (a path, an address, a list in one string...).
    Text,
    /// A repeatable flag: an array of strings (or a single string).
    List,
    /// The positional argument: a string.
    Positional,
}

impl Kind {
    fn expected(self) -> &'static str {
        match self {
            Kind::Switch => "true or false",
            Kind::Integer => "a whole number",
            Kind::Text | Kind::Positional => "a string",
            Kind::List => "an array of strings",
        }
    }
}

/// One settable key.
struct Key {
    /// The name in the file: the long flag name (`max-requests`), or the id of a positional.
    name: String,
    /// clap's id of the argument (`max_requests`).
    id: String,
    kind: Kind,
}

/// Every key a config file may hold, from clap's description of [`Cli`].
fn keys() -> Vec<Key> {
    let mut command = Cli::command();
    command.build();
    command
        .get_arguments()
        .filter_map(|arg| {
            let kind = kind_of(arg)?;
            let name = match arg.get_long() {
                Some(long) => long.to_owned(),
                None if arg.is_positional() => arg.get_id().as_str().to_owned(),
                None => return None,
            };
            Some(Key {
                name,
                id: arg.get_id().as_str().to_owned(),
                kind,
            })
        })
        .collect()
}

/// The kind of value `arg` takes; `None` for `--help` and `--version`.
fn kind_of(arg: &Arg) -> Option<Kind> {
    let kind = match arg.get_action() {
        ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version => return None,
        _ if arg.is_positional() => Kind::Positional,
        ArgAction::Append => Kind::List,
        action if !action.takes_values() => Kind::Switch,
        _ if is_integer_parser(arg) => Kind::Integer,
        _ => Kind::Text,
    };
    Some(kind)
}

fn is_integer_parser(arg: &Arg) -> bool {
    let parsed = arg.get_value_parser().type_id();
    [
        TypeId::of::<u8>(),
        TypeId::of::<u16>(),
        TypeId::of::<u32>(),
        TypeId::of::<u64>(),
        TypeId::of::<usize>(),
        TypeId::of::<i8>(),
        TypeId::of::<i16>(),
        TypeId::of::<i32>(),
        TypeId::of::<i64>(),
        TypeId::of::<isize>(),
    ]
    .iter()
    .any(|id| parsed == *id)
}

/// Reads `path` as a JSON object whose keys are all different.
fn read_file(path: &Path) -> Result<Map<String, Value>, ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| ConfigError::file(path, format!("cannot read it: {e}")))?;
    let settings: Settings = serde_json::from_slice(&bytes).map_err(|e| ConfigError::file(path, json_error(&e)))?;
    match settings {
        Settings::Object(map) => Ok(map),
        Settings::Other(other) => Err(ConfigError::file(
            path,
            format!(
                "expected a JSON object of settings ({{\"workers\": 4, ...}}), found {}",
                type_name(&other)
            ),
        )),
    }
}

/// A config file's top-level value, read so that a key given twice is an error: serde_json's own
/// map would silently keep the last value.
enum Settings {
    Object(Map<String, Value>),
    Other(Value),
}

impl<'de> serde::Deserialize<'de> for Settings {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Settings, D::Error> {
        struct TopLevel;

        impl<'de> serde::de::Visitor<'de> for TopLevel {
            type Value = Settings;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Settings, A::Error> {
                let mut map = Map::new();
                while let Some(key) = access.next_key::<String>()? {
                    if map.contains_key(&key) {
                        return Err(serde::de::Error::custom(format_args!("key {key:?} is given twice")));
                    }
                    let value = access.next_value::<Value>()?;
                    map.insert(key, value);
                }
                Ok(Settings::Object(map))
            }

            fn visit_bool<E>(self, v: bool) -> Result<Settings, E> {
                Ok(Settings::Other(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Settings, E> {
                Ok(Settings::Other(Value::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Settings, E> {
                Ok(Settings::Other(Value::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Settings, E> {
                Ok(Settings::Other(Value::from(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Settings, E> {
                Ok(Settings::Other(Value::from(v)))
            }
            fn visit_unit<E>(self) -> Result<Settings, E> {
                Ok(Settings::Other(Value::Null))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut access: A) -> Result<Settings, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = access.next_element::<Value>()? {
                    items.push(item);
                }
                Ok(Settings::Other(Value::Array(items)))
            }
        }

        deserializer.deserialize_any(TopLevel)
    }
}

/// `line L, column C: invalid JSON: what` (or, for a well-formed file whose content is refused,
/// such as a repeated key, `line L, column C: what`), without serde_json's own trailing position.
fn json_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let what = text.strip_suffix(&suffix).unwrap_or(&text);
    let kind = match error.classify() {
        serde_json::error::Category::Data => "",
        _ => "invalid JSON: ",
    };
    format!("line {}, column {}: {kind}{what}", error.line(), error.column())
}

/// Checks every key of `settings` and turns those the command line did not set into flags.
fn merge(settings: &Map<String, Value>, command_line: &ArgMatches, path: &Path) -> Result<Merged, ConfigError> {
    let keys = keys();
    let mut seen: Vec<(&str, &str)> = Vec::new(); // (clap id, key as written)
    let mut merged = Merged {
        flags: Vec::new(),
        positionals: Vec::new(),
    };
    for (written, value) in settings {
        let name = written.replace('_', "-");
        if COMMAND_LINE_ONLY.contains(&name.as_str()) {
            return Err(ConfigError::file(
                path,
                format!("key {written:?} cannot be set in a config file, only on the command line"),
            ));
        }
        let Some(key) = keys.iter().find(|key| key.name == name) else {
            return Err(ConfigError::file(path, unknown_key(written, &name, &keys)));
        };
        if let Some((_, first)) = seen.iter().find(|(id, _)| *id == key.id) {
            return Err(ConfigError::file(
                path,
                format!("key {written:?} is given twice (also as {first:?})"),
            ));
        }
        seen.push((&key.id, written));

        let tokens = tokens(key, written, value).map_err(|message| ConfigError::file(path, message))?;
        if key.kind != Kind::Positional {
            check_alone(&tokens).map_err(|message| ConfigError::file(path, format!("key {written:?}: {message}")))?;
        }
        if command_line.value_source(&key.id) == Some(ValueSource::CommandLine) {
            continue; // the command line overrides (or, for lists, replaces) the file
        }
        match (key.kind, value) {
            (Kind::Positional, Value::String(text)) => merged.positionals.push((key.id.clone(), text.clone())),
            _ => merged.flags.extend(tokens),
        }
    }
    Ok(merged)
}

/// The command-line tokens for `value` of `key`, or why its type is wrong.
fn tokens(key: &Key, written: &str, value: &Value) -> Result<Vec<OsString>, String> {
    let wrong = || {
        format!(
            "key {written:?} expects {}, found {}",
            key.kind.expected(),
            type_name(value)
        )
    };
    let option = |text: &str| OsString::from(format!("--{}={text}", key.name));
    let tokens = match (key.kind, value) {
        (_, Value::Null) => Vec::new(), // null: not set, the default applies
        (Kind::Switch, Value::Bool(true)) => vec![OsString::from(format!("--{}", key.name))],
        (Kind::Switch, Value::Bool(false)) => Vec::new(),
        (Kind::Integer, Value::Number(n)) if n.is_u64() || n.is_i64() => vec![option(&n.to_string())],
        (Kind::Text, Value::String(text)) => vec![option(text)],
        (Kind::Text, Value::Number(n)) => vec![option(&n.to_string())],
        (Kind::List, Value::String(text)) => vec![option(text)],
        (Kind::List, Value::Array(items)) => {
            let mut tokens = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(text) => tokens.push(option(text)),
                    other => {
                        return Err(format!(
                            "key {written:?} expects an array of strings, found an array holding {}",
                            type_name(other)
                        ));
                    }
                }
            }
            tokens
        }
        (Kind::Positional, Value::String(text)) if !text.is_empty() => Vec::new(),
        (Kind::Positional, Value::String(_)) => return Err(format!("key {written:?}: the path is empty")),
        _ => return Err(wrong()),
    };
    Ok(tokens)
}

/// Parses one key's tokens on their own, so that a bad value is blamed on its key.
fn check_alone(tokens: &[OsString]) -> Result<(), String> {
    if tokens.is_empty() {
        return Ok(());
    }
    let argv = std::iter::once(OsString::from("nsgi-gateway")).chain(tokens.iter().cloned());
    let matches = Cli::command().try_get_matches_from(argv).map_err(|e| first_line(&e))?;
    Cli::from_arg_matches(&matches).map(drop).map_err(|e| first_line(&e))
}

/// Sets the positional argument `id` of `cli` to a file's `value`.
fn set_positional(cli: &mut Cli, id: &str, value: String) -> Result<(), String> {
    match id {
        "app" => {
            cli.app = Some(PathBuf::from(value));
            Ok(())
        }
        other => Err(format!(
            "key {other:?}: a positional argument this version cannot take from a file"
        )),
    }
}

/// `unknown key "wokers"; did you mean "workers"?`
fn unknown_key(written: &str, name: &str, keys: &[Key]) -> String {
    let lowered = name.to_ascii_lowercase();
    let settable = || {
        keys.iter()
            .filter(|key| !COMMAND_LINE_ONLY.contains(&key.name.as_str()))
    };
    let closest = settable()
        .map(|key| (strsim::levenshtein(&lowered, &key.name), &key.name))
        .min();
    let close = closest
        .filter(|(distance, suggestion)| *distance <= (lowered.len().max(suggestion.len()) / 3).max(2))
        .map(|(_, suggestion)| suggestion);
    // Else a key the name begins, when only one does (`log` → `log-level`).
    let mut extending = settable().filter(|key| key.name.starts_with(&lowered));
    let extended = match (extending.next(), extending.next()) {
        (Some(only), None) if !lowered.is_empty() => Some(&only.name),
        _ => None,
    };
    match close.or(extended) {
        Some(suggestion) => format!("unknown key {written:?}; did you mean {suggestion:?}?"),
        None => format!("unknown key {written:?}; the keys are the long flag names that `nsgi-gateway --help` lists"),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a fractional number",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The first line of a clap error, without its `error: ` prefix.
fn first_line(error: &clap::Error) -> String {
    let text = error.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A config file holding `json`, removed when dropped.
    struct TempConfig(PathBuf);

    impl TempConfig {
        fn new(json: &str) -> TempConfig {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "nsgi-config-test-{}-{}.json",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&path, json).expect("write the config file");
            TempConfig(path)
        }

        fn path(&self) -> &str {
            self.0.to_str().expect("a UTF-8 temp path")
        }
    }

    impl Drop for TempConfig {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn parse(args: &[&str]) -> Result<Cli, ConfigError> {
        parse_args(
            std::iter::once("nsgi-gateway")
                .chain(args.iter().copied())
                .map(OsString::from)
                .collect(),
        )
    }

    fn file_error(json: &str) -> String {
        let file = TempConfig::new(json);
        match parse(&["--config", file.path()]) {
            Err(error @ ConfigError::File { .. }) => {
                let text = error.to_string();
                assert!(text.contains(file.path()), "names the file: {text}");
                text
            }
            other => panic!("expected a file error for {json}, got {other:?}"),
        }
    }

    #[test]
    fn without_a_config_file_it_is_the_command_line() {
        let cli = parse(&["lib.so", "-w", "3", "--validate"]).expect("parses");
        assert_eq!(cli.app.as_deref(), Some(Path::new("lib.so")));
        assert_eq!(cli.workers, Some(3));
        assert!(cli.validate);
        assert_eq!(cli.config, None);
    }

    #[test]
    fn reload_can_be_set_in_the_file_and_is_refused_without_a_supervisor() {
        let file = TempConfig::new(r#"{"app": "lib.so", "reload": true, "workers": 1}"#);
        let cli = parse(&["--config", file.path()]).expect("parses");
        assert!(cli.reload);
        assert!(cli.server_options().is_ok());
        let single = parse(&["--config", file.path(), "--workers", "0"]).expect("parses");
        let error = single.server_options().expect_err("--reload with --workers 0");
        assert!(error.contains("--reload") && error.contains("--workers 0"), "{error}");
    }

    #[test]
    fn file_values_are_used() {
        let file = TempConfig::new(
            r#"{
                "app": "target/release/libhello.so",
                "workers": 4,
                "max_requests": 1000,
                "max-requests-jitter": 50,
                "bind": ["127.0.0.1:9000", "unix:/run/app.sock", "uwsgi://127.0.0.1:9001"],
                "unix-socket-mode": 600,
                "root-path": "/shop",
                "forwarded-allow-ips": "10.0.0.0/8",
                "uwsgi-allow-ips": "10.0.0.1",
                "access-log": "-",
                "validate": true,
                "pid": null
            }"#,
        );
        let cli = parse(&["--config", file.path()]).expect("parses");
        assert_eq!(cli.app.as_deref(), Some(Path::new("target/release/libhello.so")));
        assert_eq!(cli.workers, Some(4));
        assert_eq!(cli.max_requests, 1000);
        assert_eq!(cli.max_requests_jitter, 50);
        assert_eq!(
            cli.bind,
            ["127.0.0.1:9000", "unix:/run/app.sock", "uwsgi://127.0.0.1:9001"]
        );
        assert_eq!(cli.unix_mode(), Ok(0o600));
        assert_eq!(cli.root_path, "/shop");
        assert_eq!(cli.forwarded_allow_ips, "10.0.0.0/8");
        assert_eq!(cli.uwsgi_allow_ips, "10.0.0.1");
        assert_eq!(cli.access_log.as_deref(), Some(Path::new("-")));
        assert!(cli.validate);
        assert_eq!(cli.pid, None);
        // Untouched settings keep their defaults.
        assert_eq!(cli.timeout, 30);
        assert_eq!(cli.config.as_deref(), Some(Path::new(file.path())));
    }

    #[test]
    fn false_switches_and_values_starting_with_a_dash_are_taken_literally() {
        let file = TempConfig::new(r#"{"validate": false, "root-path": "-odd", "bind": "[::1]:0"}"#);
        let cli = parse(&["-c", file.path()]).expect("parses");
        assert!(!cli.validate);
        assert_eq!(cli.root_path, "-odd", "passed as --root-path=-odd, not as a flag");
        assert_eq!(cli.bind, ["[::1]:0"], "a single string is a one-entry list");
    }

    #[test]
    fn the_command_line_overrides_the_file() {
        let file = TempConfig::new(r#"{"workers": 4, "timeout": 5, "app": "file.so", "log-level": "debug"}"#);
        let cli = parse(&["--workers", "2", "--config", file.path(), "cli.so", "--log-level=warn"]).expect("parses");
        assert_eq!(cli.workers, Some(2), "flag before --config still wins");
        assert_eq!(cli.log_level, "warn");
        assert_eq!(cli.app.as_deref(), Some(Path::new("cli.so")));
        assert_eq!(cli.timeout, 5, "keys the command line leaves alone come from the file");
    }

    #[test]
    fn command_line_lists_replace_the_files_lists() {
        let file = TempConfig::new(r#"{"bind": ["0.0.0.0:80", "0.0.0.0:81"], "mount": ["/a=a.so", "/b=b.so"]}"#);
        let cli = parse(&["--config", file.path(), "--bind", "127.0.0.1:1"]).expect("parses");
        assert_eq!(cli.bind, ["127.0.0.1:1"], "replaced, not merged");
        assert_eq!(
            cli.mount,
            ["/a=a.so", "/b=b.so"],
            "the file's list when the command line has none"
        );

        let cli = parse(&["-m", "/c=c.so", "--config", file.path()]).expect("parses");
        assert_eq!(cli.mount, ["/c=c.so"]);
        assert_eq!(cli.bind, ["0.0.0.0:80", "0.0.0.0:81"]);
    }

    #[test]
    fn unknown_keys_are_refused_with_a_suggestion() {
        let text = file_error(r#"{"wokers": 4}"#);
        assert!(
            text.contains(r#"unknown key "wokers"; did you mean "workers"?"#),
            "{text}"
        );
        let text = file_error(r#"{"max_request": 4}"#);
        assert!(text.contains(r#"did you mean "max-requests"?"#), "{text}");
        let text = file_error(r#"{"help": true}"#);
        assert!(text.contains(r#"unknown key "help""#), "--help is no key: {text}");
        let text = file_error(r#"{"log": "debug"}"#);
        assert!(text.contains(r#"did you mean "log-level"?"#), "{text}");
        let text = file_error(r#"{"zzzzzzzzzzzzzz": 1}"#);
        assert!(text.contains("unknown key") && !text.contains("did you mean"), "{text}");
    }

    #[test]
    fn command_line_only_keys_are_refused() {
        for key in ["config", "check-config", "check_config"] {
            let text = file_error(&format!(r#"{{"{key}": "x"}}"#));
            assert!(
                text.contains(&format!("key {key:?} cannot be set in a config file")),
                "{text}"
            );
        }
    }

    #[test]
    fn a_key_given_twice_is_refused_naming_it() {
        let message = file_error("{\n  \"workers\": 1,\n  \"workers\": 2\n}");
        assert!(
            message.contains("line 3") && message.contains("key \"workers\" is given twice"),
            "{message}"
        );
        assert!(!message.contains("invalid JSON"), "{message}");
        for other in ["[1, 2]", "\"text\"", "4", "null", "true"] {
            let message = file_error(other);
            assert!(message.contains("expected a JSON object"), "{other}: {message}");
        }
    }

    #[test]
    fn a_key_given_in_both_spellings_is_refused() {
        let text = file_error(r#"{"max-requests": 1, "max_requests": 2}"#);
        assert!(text.contains("given twice"), "{text}");
    }

    #[test]
    fn wrong_types_name_the_key_and_the_expected_type() {
        for (json, expected) in [
            (
                r#"{"workers": "four"}"#,
                r#"key "workers" expects a whole number, found a string"#,
            ),
            (
                r#"{"workers": 2.5}"#,
                r#"key "workers" expects a whole number, found a fractional number"#,
            ),
            (
                r#"{"validate": "yes"}"#,
                r#"key "validate" expects true or false, found a string"#,
            ),
            (
                r#"{"bind": 8000}"#,
                r#"key "bind" expects an array of strings, found a number"#,
            ),
            (
                r#"{"mount": ["/a=a.so", 3]}"#,
                r#"key "mount" expects an array of strings, found an array holding a number"#,
            ),
            (
                r#"{"root-path": ["/a"]}"#,
                r#"key "root-path" expects a string, found an array"#,
            ),
            (r#"{"app": 1}"#, r#"key "app" expects a string, found a number"#),
            (r#"{"app": ""}"#, r#"key "app": the path is empty"#),
        ] {
            let text = file_error(json);
            assert!(text.contains(expected), "{json}: {text}");
        }
    }

    #[test]
    fn out_of_range_values_name_the_key() {
        let text = file_error(r#"{"workers": -1}"#);
        assert!(text.contains(r#"key "workers": invalid value '-1'"#), "{text}");
        let text = file_error(r#"{"backlog": 99999999999}"#);
        assert!(text.contains(r#"key "backlog""#), "{text}");
    }

    #[test]
    fn bad_json_reports_line_and_column() {
        let text = file_error("{\n  \"workers\": 4,\n  \"timeout\" 5\n}");
        assert!(text.contains("line 3, column 13: invalid JSON"), "{text}");
        let text = file_error("[1, 2]");
        assert!(text.contains("expected a JSON object"), "{text}");
        let text = file_error("");
        assert!(text.contains("line 1, column 0: invalid JSON"), "{text}");
    }

    #[test]
    fn a_missing_file_is_a_file_error() {
        let missing = std::env::temp_dir().join("nsgi-config-test-does-not-exist.json");
        let error = parse(&["--config", missing.to_str().expect("UTF-8")]).expect_err("missing");
        assert!(matches!(error, ConfigError::File { .. }));
        assert!(error.to_string().contains("cannot read it"), "{error}");
    }

    #[test]
    fn help_version_and_usage_errors_are_clap_errors() {
        let kind = |args: &[&str]| match parse(args) {
            Err(ConfigError::Clap(e)) => e.kind(),
            other => panic!("expected a clap error, got {other:?}"),
        };
        assert_eq!(kind(&["--help"]), ErrorKind::DisplayHelp);
        assert_eq!(kind(&["--version"]), ErrorKind::DisplayVersion);
        assert_eq!(kind(&["--no-such-flag"]), ErrorKind::UnknownArgument);
        // --help wins even with a config file that would not parse.
        let file = TempConfig::new("not json");
        assert!(matches!(
            parse(&["-c", file.path(), "--help"]),
            Err(ConfigError::Clap(_))
        ));
    }

    #[test]
    fn every_flag_is_a_key() {
        let keys = keys();
        let names: Vec<&str> = keys.iter().map(|key| key.name.as_str()).collect();
        for expected in [
            "app",
            "bind",
            "workers",
            "max-requests",
            "limit-request-line",
            "validate",
            "access-log",
        ] {
            assert!(names.contains(&expected), "{expected} missing from {names:?}");
        }
        assert!(!names.contains(&"help") && !names.contains(&"version"));
        let kind = |name: &str| keys.iter().find(|key| key.name == name).map(|key| key.kind);
        assert_eq!(kind("validate"), Some(Kind::Switch));
        assert_eq!(kind("workers"), Some(Kind::Integer));
        assert_eq!(kind("max-body-size"), Some(Kind::Integer));
        assert_eq!(kind("root-path"), Some(Kind::Text));
        assert_eq!(kind("mount"), Some(Kind::List));
        assert_eq!(kind("app"), Some(Kind::Positional));
        // Every positional argument can be set from a file.
        let mut cli = parse(&[]).expect("parses");
        for key in keys.iter().filter(|key| key.kind == Kind::Positional) {
            assert_eq!(set_positional(&mut cli, &key.id, "x".to_owned()), Ok(()), "{}", key.id);
        }
    }
}

//! A Python process a bench talks to one line at a time: started with its script and
//! arguments, it prints `ready`, then answers every command written to its stdin with one line.
//! Closing stdin ends it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};

use crate::error::{Error, Result};

pub struct PythonChild {
    child: Child,
    out: BufReader<ChildStdout>,
    /// What the process is, in messages ("the Python baseline").
    what: &'static str,
    /// What it needs installed, said when it stops early.
    needs: &'static str,
}

impl PythonChild {
    /// Starts `command` (a Python interpreter with its script and arguments) and waits for it
    /// to say `ready`.
    pub fn start(mut command: Command, what: &'static str, needs: &'static str) -> Result<Self> {
        let program = command.get_program().to_string_lossy().into_owned();
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| Error::new(format!("cannot run {program}: {e}")))?;
        let Some(stdout) = child.stdout.take() else {
            return Err(Error::new(format!("{what}: no stdout")));
        };
        let mut me = PythonChild {
            child,
            out: BufReader::new(stdout),
            what,
            needs,
        };
        let ready = me.line()?;
        if ready != "ready" {
            return Err(Error::new(format!("{what} said {ready:?}")));
        }
        Ok(me)
    }

    /// The next line it prints, trimmed.
    pub fn line(&mut self) -> Result<String> {
        let mut s = String::new();
        self.out
            .read_line(&mut s)
            .map_err(|e| Error::new(format!("{}: {e}", self.what)))?;
        if s.is_empty() {
            return Err(Error::new(format!(
                "{} stopped (it needs {}; its error is above)",
                self.what, self.needs
            )));
        }
        Ok(s.trim().to_string())
    }

    /// Sends `command` and returns the line it answers.
    pub fn ask(&mut self, command: &str) -> Result<String> {
        let what = self.what;
        let Some(stdin) = self.child.stdin.as_mut() else {
            return Err(Error::new(format!("{what}: stdin is closed")));
        };
        stdin
            .write_all(format!("{command}\n").as_bytes())
            .and_then(|_| stdin.flush())
            .map_err(|e| Error::new(format!("{what}: {e}")))?;
        self.line()
    }

    /// An error saying it printed `line` where something else was expected.
    pub fn unexpected(&self, line: &str) -> Error {
        Error::new(format!("{} printed {line:?}", self.what))
    }
}

impl Drop for PythonChild {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

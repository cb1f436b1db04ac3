//! The terminal's events read in the background, with a pause: while the editor runs
//! (Ctrl+G) nothing of lode's may read the terminal, or keys meant for the editor would
//! land in the session instead.

use std::io;
use std::time::Duration;

use crossterm::event::{Event, EventStream};
use futures_util::StreamExt;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

enum Control {
    /// Stop reading; the sender hears once nothing reads any more.
    Pause(std::sync::mpsc::Sender<()>),
    Resume,
}

/// Pauses and resumes the reader task.
#[derive(Clone)]
pub struct Reader {
    control: UnboundedSender<Control>,
}

impl Reader {
    /// Starts reading the terminal into `events`.
    pub fn spawn(events: UnboundedSender<io::Result<Event>>) -> Self {
        let (control, mut orders) = unbounded_channel();
        tokio::spawn(async move {
            let mut stream = Some(EventStream::new());
            loop {
                let mut paused = None;
                match stream.as_mut() {
                    Some(reading) => tokio::select! {
                        order = orders.recv() => match order {
                            Some(Control::Pause(done)) => paused = Some(done),
                            Some(Control::Resume) => {}
                            None => return,
                        },
                        event = reading.next() => match event {
                            Some(event) => {
                                if events.send(event).is_err() {
                                    return;
                                }
                            }
                            None => return,
                        },
                    },
                    None => match orders.recv().await {
                        Some(Control::Resume) => stream = Some(EventStream::new()),
                        Some(Control::Pause(done)) => {
                            let _ = done.send(());
                        }
                        None => return,
                    },
                }
                if let Some(done) = paused {
                    // Dropping the stream stops crossterm's reading thread.
                    stream = None;
                    let _ = done.send(());
                }
            }
        });
        Self { control }
    }

    /// Stops reading; returns once the reader has let go (or after a second).
    pub fn pause(&self) {
        let (done, stopped) = std::sync::mpsc::channel();
        if self.control.send(Control::Pause(done)).is_ok() {
            let _ = stopped.recv_timeout(Duration::from_secs(1));
        }
    }

    pub fn resume(&self) {
        let _ = self.control.send(Control::Resume);
    }
}

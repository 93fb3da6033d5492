//! Streamed bundle uploads. (The handler is wired when the job queue lands.)

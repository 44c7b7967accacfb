//! A failure outside the domain (the database, above all), as the edges see
//! it: something to log at the right level and answer with `503`, never
//! something to show a caller.

/// A dependency's failure.
pub trait Fault: std::error::Error {
    /// `true` when the dependency is down or too slow (worth a warning: it
    /// passes); `false` for what is a defect or corrupt data (an error: it
    /// does not pass by itself).
    fn is_outage(&self) -> bool;
}

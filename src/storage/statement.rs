//! SQL text and its arguments, built a piece at a time for code generic
//! over the driver.
//!
//! sqlx's `QueryBuilder` lends the query it builds a borrow of itself for
//! as long as its arguments may borrow values; with the driver a type
//! parameter that is the builder's whole life, so it cannot be dropped. A
//! [`Statement`] is consumed instead: [`Statement::into_parts`] gives the
//! text and the arguments for `sqlx::query_with` and its kin.

use sqlx::error::BoxDynError;
use sqlx::{Arguments as _, Database, Encode, Type};

use super::StoreError;

/// A statement being built: its text, with a placeholder for each value
/// bound so far, and the values.
pub struct Statement<'a, DB: Database> {
    sql: String,
    arguments: DB::Arguments<'a>,
    /// The first value that could not be encoded: the statement fails.
    error: Option<BoxDynError>,
}

impl<'a, DB: Database> Statement<'a, DB> {
    pub fn new(sql: &str) -> Self {
        Self {
            sql: sql.to_owned(),
            arguments: DB::Arguments::default(),
            error: None,
        }
    }

    /// Appends SQL text.
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Binds `value` and appends its placeholder.
    pub fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'a + Encode<'a, DB> + Type<DB>,
    {
        if let Err(error) = self.arguments.add(value) {
            self.error.get_or_insert(error);
        }
        // Writing to a `String` cannot fail.
        let _ = self.arguments.format_placeholder(&mut self.sql);
        self
    }

    /// Binds each of `values`, their placeholders separated by commas (the
    /// inside of `IN (…)`).
    pub fn push_list<T>(&mut self, values: impl IntoIterator<Item = T>) -> &mut Self
    where
        T: 'a + Encode<'a, DB> + Type<DB>,
    {
        for (n, value) in values.into_iter().enumerate() {
            if n > 0 {
                self.push(", ");
            }
            self.push_bind(value);
        }
        self
    }

    /// Appends `VALUES (…), (…)`, one row per item, whose values `row`
    /// binds.
    pub fn push_values<I>(
        &mut self,
        items: impl IntoIterator<Item = I>,
        mut row: impl FnMut(&mut Row<'_, 'a, DB>, I),
    ) -> &mut Self {
        self.push("VALUES ");
        for (n, item) in items.into_iter().enumerate() {
            self.push(if n == 0 { "(" } else { ", (" });
            row(
                &mut Row {
                    statement: self,
                    first: true,
                },
                item,
            );
            self.push(")");
        }
        self
    }

    /// The text and the arguments, or the error of a value that could not
    /// be encoded.
    pub fn into_parts(self) -> Result<(String, DB::Arguments<'a>), StoreError> {
        match self.error {
            Some(error) => Err(sqlx::Error::Encode(error).into()),
            None => Ok((self.sql, self.arguments)),
        }
    }
}

/// One row of [`Statement::push_values`].
pub struct Row<'s, 'a, DB: Database> {
    statement: &'s mut Statement<'a, DB>,
    first: bool,
}

impl<'a, DB: Database> Row<'_, 'a, DB> {
    /// Binds the row's next value.
    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'a + Encode<'a, DB> + Type<DB>,
    {
        if !self.first {
            self.statement.push(", ");
        }
        self.first = false;
        self.statement.push_bind(value);
        self
    }
}

//! SQL Server error messages, with the numbers, classes and states real SQL Server uses.

use std::fmt;

/// An error the simulator answers with an ERROR token: SQL Server's number, class (severity) and state,
/// and its message text. Built only through the constructors below, so every number matches the
/// message SQL Server sends with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SqlError {
    /// SQL Server message number (e.g. 207).
    pub number: i32,
    /// Severity class: 16 for most user errors, 15 for syntax, 14 for login failures, 13 for deadlocks.
    pub class: u8,
    /// State, as SQL Server reports it.
    pub state: u8,
    /// Message text.
    pub message: String,
    /// Line of the batch the error refers to (1-based).
    pub line: u32,
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Msg {}, Level {}, State {}, Line {}: {}",
            self.number, self.class, self.state, self.line, self.message
        )
    }
}

impl std::error::Error for SqlError {}

impl SqlError {
    fn new(number: i32, class: u8, state: u8, message: String) -> Self {
        Self {
            number,
            class,
            state,
            message,
            line: 1,
        }
    }

    /// Sets the batch line the error points at.
    pub fn at_line(mut self, line: u64) -> Self {
        self.line = u32::try_from(line.max(1)).unwrap_or(u32::MAX);
        self
    }

    /// 102: Incorrect syntax near 'x'.
    pub fn syntax(near: &str) -> Self {
        Self::new(102, 15, 1, format!("Incorrect syntax near '{near}'."))
    }

    /// 156: Incorrect syntax near the keyword 'FROM'.
    pub fn syntax_keyword(keyword: &str) -> Self {
        Self::new(
            156,
            15,
            1,
            format!("Incorrect syntax near the keyword '{keyword}'."),
        )
    }

    /// 105: Unclosed quotation mark after the character string 'x'.
    pub fn unclosed_quote(rest: &str) -> Self {
        Self::new(
            105,
            15,
            1,
            format!("Unclosed quotation mark after the character string '{rest}'."),
        )
    }

    /// 208: Invalid object name 'x'.
    pub fn invalid_object(name: &str) -> Self {
        Self::new(208, 16, 1, format!("Invalid object name '{name}'."))
    }

    /// 207: Invalid column name 'x'.
    pub fn invalid_column(name: &str) -> Self {
        Self::new(207, 16, 1, format!("Invalid column name '{name}'."))
    }

    /// 209: Ambiguous column name 'x'.
    pub fn ambiguous_column(name: &str) -> Self {
        Self::new(209, 16, 1, format!("Ambiguous column name '{name}'."))
    }

    /// 4104: The multi-part identifier "a.b" could not be bound.
    pub fn unbound_identifier(name: &str) -> Self {
        Self::new(
            4104,
            16,
            1,
            format!("The multi-part identifier \"{name}\" could not be bound."),
        )
    }

    /// 1013: two tables exposed with the same name.
    pub fn duplicate_exposed_name(name: &str) -> Self {
        Self::new(
            1013,
            16,
            1,
            format!(
                "The objects \"{name}\" and \"{name}\" in the FROM clause have the same exposed names. \
                 Use correlation names to distinguish them."
            ),
        )
    }

    /// 137: Must declare the scalar variable "@x".
    pub fn undeclared_variable(name: &str) -> Self {
        Self::new(
            137,
            15,
            2,
            format!("Must declare the scalar variable \"{name}\"."),
        )
    }

    /// 195: 'x' is not a recognized built-in function name.
    pub fn unknown_function(name: &str) -> Self {
        Self::new(
            195,
            15,
            10,
            format!("'{name}' is not a recognized built-in function name."),
        )
    }

    /// 174: The x function requires n argument(s).
    pub fn function_arity(name: &str, n: usize) -> Self {
        Self::new(
            174,
            15,
            1,
            format!("The {name} function requires {n} argument(s)."),
        )
    }

    /// 243: Type x is not a defined system type.
    pub fn unknown_type(name: &str) -> Self {
        Self::new(
            243,
            16,
            1,
            format!("Type {name} is not a defined system type."),
        )
    }

    /// 245: Conversion failed when converting the nvarchar value 'x' to data type int.
    pub fn conversion_failed(value: &str, from: &str, to: &str) -> Self {
        Self::new(
            245,
            16,
            1,
            format!(
                "Conversion failed when converting the {from} value '{value}' to data type {to}."
            ),
        )
    }

    /// 8114: Error converting data type nvarchar to numeric.
    pub fn error_converting(from: &str, to: &str) -> Self {
        Self::new(
            8114,
            16,
            5,
            format!("Error converting data type {from} to {to}."),
        )
    }

    /// 241: Conversion failed when converting date and/or time from character string.
    pub fn datetime_from_string() -> Self {
        Self::new(
            241,
            16,
            1,
            "Conversion failed when converting date and/or time from character string.".to_owned(),
        )
    }

    /// 529: Explicit conversion from data type x to y is not allowed.
    pub fn conversion_not_allowed(from: &str, to: &str) -> Self {
        Self::new(
            529,
            16,
            2,
            format!("Explicit conversion from data type {from} to {to} is not allowed."),
        )
    }

    /// 206: Operand type clash: x is incompatible with y.
    pub fn type_clash(left: &str, right: &str) -> Self {
        Self::new(
            206,
            16,
            2,
            format!("Operand type clash: {left} is incompatible with {right}"),
        )
    }

    /// 8117: Operand data type x is invalid for y operator.
    pub fn invalid_operand(ty: &str, op: &str) -> Self {
        Self::new(
            8117,
            16,
            1,
            format!("Operand data type {ty} is invalid for {op} operator."),
        )
    }

    /// 402: The data types x and y are incompatible in the z operator.
    pub fn incompatible_operands(left: &str, right: &str, op: &str) -> Self {
        Self::new(
            402,
            16,
            1,
            format!("The data types {left} and {right} are incompatible in the {op} operator."),
        )
    }

    /// 8115: Arithmetic overflow error converting expression to data type x.
    pub fn overflow(to: &str) -> Self {
        Self::new(
            8115,
            16,
            2,
            format!("Arithmetic overflow error converting expression to data type {to}."),
        )
    }

    /// 8115 for numeric targets: Arithmetic overflow error converting x to data type numeric.
    pub fn overflow_numeric(from: &str) -> Self {
        Self::new(
            8115,
            16,
            8,
            format!("Arithmetic overflow error converting {from} to data type numeric."),
        )
    }

    /// 8134: Divide by zero error encountered.
    pub fn divide_by_zero() -> Self {
        Self::new(8134, 16, 1, "Divide by zero error encountered.".to_owned())
    }

    /// 8120: Column 'x' is invalid in the select list because it is not contained in either an
    /// aggregate function or the GROUP BY clause.
    pub fn not_in_group_by(column: &str) -> Self {
        Self::new(
            8120,
            16,
            1,
            format!(
                "Column '{column}' is invalid in the select list because it is not contained in either \
                 an aggregate function or the GROUP BY clause."
            ),
        )
    }

    /// 147: An aggregate may not appear in the WHERE clause …
    pub fn aggregate_in_where() -> Self {
        Self::new(
            147,
            15,
            1,
            "An aggregate may not appear in the WHERE clause unless it is in a subquery contained in a \
             HAVING clause or a select list, and the column being aggregated is an outer reference."
                .to_owned(),
        )
    }

    /// 130: Cannot perform an aggregate function on an expression containing an aggregate or a subquery.
    pub fn nested_aggregate() -> Self {
        Self::new(
            130,
            16,
            1,
            "Cannot perform an aggregate function on an expression containing an aggregate or a subquery."
                .to_owned(),
        )
    }

    /// 145: ORDER BY items must appear in the select list if SELECT DISTINCT is specified.
    pub fn order_by_not_in_distinct() -> Self {
        Self::new(
            145,
            15,
            1,
            "ORDER BY items must appear in the select list if SELECT DISTINCT is specified."
                .to_owned(),
        )
    }

    /// 108: The ORDER BY position number n is out of range of the number of items in the select list.
    pub fn order_by_position(n: i64) -> Self {
        Self::new(
            108,
            16,
            1,
            format!(
                "The ORDER BY position number {n} is out of range of the number of items in the select list."
            ),
        )
    }

    /// 10741: A TOP can not be used in the same query or sub-query as a OFFSET.
    pub fn top_with_offset() -> Self {
        Self::new(
            10741,
            15,
            2,
            "A TOP can not be used in the same query or sub-query as a OFFSET.".to_owned(),
        )
    }

    /// 10742: The offset specified in a OFFSET clause may not be negative.
    pub fn negative_offset() -> Self {
        Self::new(
            10742,
            16,
            1,
            "The offset specified in a OFFSET clause may not be negative.".to_owned(),
        )
    }

    /// 10744: The number of rows provided for a FETCH clause must be greater then zero.
    pub fn fetch_not_positive() -> Self {
        Self::new(
            10744,
            16,
            1,
            "The number of rows provided for a FETCH clause must be greater then zero.".to_owned(),
        )
    }

    /// 1060: The number of rows provided for a TOP or FETCH clauses row count parameter must be an integer.
    pub fn top_not_integer() -> Self {
        Self::new(
            1060,
            15,
            1,
            "The number of rows provided for a TOP or FETCH clauses row count parameter must be an integer."
                .to_owned(),
        )
    }

    /// 1014: A TOP or FETCH clause contains an invalid value.
    pub fn top_invalid() -> Self {
        Self::new(
            1014,
            15,
            1,
            "A TOP or FETCH clause contains an invalid value.".to_owned(),
        )
    }

    /// 911: Database 'x' does not exist.
    pub fn unknown_database(name: &str) -> Self {
        Self::new(
            911,
            16,
            1,
            format!(
                "Database '{name}' does not exist. Make sure that the name is entered correctly."
            ),
        )
    }

    /// 2812: Could not find stored procedure 'x'.
    pub fn unknown_procedure(name: &str) -> Self {
        Self::new(
            2812,
            16,
            62,
            format!("Could not find stored procedure '{name}'."),
        )
    }

    /// 8144: Procedure or function x has too many arguments specified.
    pub fn too_many_arguments(name: &str) -> Self {
        Self::new(
            8144,
            16,
            2,
            format!("Procedure or function {name} has too many arguments specified."),
        )
    }

    /// 214: Procedure expects parameter '@statement' of type 'ntext/nchar/nvarchar'.
    pub fn statement_not_nvarchar() -> Self {
        Self::new(
            214,
            16,
            2,
            "Procedure expects parameter '@statement' of type 'ntext/nchar/nvarchar'.".to_owned(),
        )
    }

    /// 1205: deadlock victim.
    pub fn deadlock_victim(spid: u16) -> Self {
        Self::new(
            1205,
            13,
            51,
            format!(
                "Transaction (Process ID {spid}) was deadlocked on lock resources with another process \
                 and has been chosen as the deadlock victim. Rerun the transaction."
            ),
        )
    }

    /// 18456: Login failed for user 'x'.
    pub fn login_failed(user: &str) -> Self {
        Self::new(18456, 14, 1, format!("Login failed for user '{user}'."))
    }

    /// 4060: Cannot open database "x" requested by the login. The login failed.
    pub fn cannot_open_database(name: &str) -> Self {
        Self::new(
            4060,
            11,
            1,
            format!("Cannot open database \"{name}\" requested by the login. The login failed."),
        )
    }

    /// An error of a number the caller chooses (fault injection).
    pub fn custom(number: i32, class: u8, state: u8, message: String) -> Self {
        Self::new(number, class, state, message)
    }

    /// 50000-range error for T-SQL the simulator parses but does not model. Real SQL Server would run
    /// the statement; the simulator says plainly that it cannot, rather than answering wrongly.
    pub fn not_modelled(what: &str) -> Self {
        Self::new(
            50000,
            16,
            1,
            format!("fluxion-etl-sim: {what} is not modelled by the Stellar simulator."),
        )
    }
}

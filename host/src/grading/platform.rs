//! Who submitted: the student, read from the file a grading platform
//! hands its autograder, so that per-student fault schedules follow the
//! student rather than the upload.
//!
//! - Gradescope's `/autograder/submission_metadata.json`: the `id` of
//!   every entry of `users` (a group submission has several), sorted and
//!   joined with `+`, so a group meets one schedule whoever uploads.
//! - PrairieLearn's `/grade/data/data.json`: its `variant_seed` (each
//!   student works on a variant of their own).

use crate::error::FileError;
use serde_json::Value;
use std::path::Path;

/// The student of a platform's metadata file, as `peershare grade
/// --student-from FILE` reads it.
///
/// ```no_run
/// let student = peershare::grading::platform::student_from("/autograder/submission_metadata.json".as_ref())?;
/// # Ok::<(), peershare::error::FileError>(())
/// ```
pub fn student_from(path: &Path) -> Result<String, FileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| FileError::Read { path: shown.clone(), source })?;
    student_in(&text).map_err(|(field, message)| {
        let line = field_line(&text, &field);
        FileError::Invalid { path: shown, line, field, message }
    })
}

/// The student named by a metadata file's text; on error the field and
/// what is wrong with it.
fn student_in(text: &str) -> Result<String, (String, String)> {
    let json: Value = serde_json::from_str(text).map_err(|e| (String::new(), format!("not JSON: {e}")))?;
    if let Some(users) = json.get("users") {
        let users = users.as_array().ok_or_else(|| ("users".to_string(), "is not a list".to_string()))?;
        let mut ids = Vec::new();
        for (i, user) in users.iter().enumerate() {
            match user.get("id") {
                Some(Value::Number(n)) => ids.push(n.to_string()),
                Some(Value::String(s)) if !s.trim().is_empty() => ids.push(s.trim().to_string()),
                _ => return Err((format!("users[{i}].id"), "is missing: every user needs an `id` (a number or a text)".into())),
            }
        }
        if ids.is_empty() {
            return Err(("users".into(), "is empty: the submission names no student".into()));
        }
        ids.sort();
        ids.dedup();
        return Ok(ids.join("+"));
    }
    match json.get("variant_seed") {
        Some(Value::Number(n)) => Ok(format!("variant-{n}")),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(format!("variant-{}", s.trim())),
        Some(_) => Err(("variant_seed".into(), "is neither a number nor a text".into())),
        None => Err((
            String::new(),
            "names no student: expected Gradescope's submission_metadata.json (with `users`) or PrairieLearn's data.json (with `variant_seed`)".into(),
        )),
    }
}

/// The 1-based line where the first name of `field` first appears, else 1.
fn field_line(text: &str, field: &str) -> usize {
    let name = field.split('.').next().unwrap_or_default().split('[').next().unwrap_or_default();
    if name.is_empty() {
        return 1;
    }
    let quoted = format!("\"{name}\"");
    text.find(&quoted).map_or(1, |at| text[..at].matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradescope_users_and_prairielearn_variants_name_the_student() {
        let one = r#"{"id": 9, "users": [{"email": "a@example.edu", "id": 1234, "name": "A"}]}"#;
        assert_eq!(student_in(one).unwrap(), "1234");
        let group = r#"{"users": [{"id": 77}, {"id": 1234}, {"id": "x9"}]}"#;
        assert_eq!(student_in(group).unwrap(), "1234+77+x9");
        assert_eq!(student_in(r#"{"params": {}, "variant_seed": 4411}"#).unwrap(), "variant-4411");
    }

    #[test]
    fn a_file_that_names_no_student_says_which_field_is_wrong() {
        let (field, message) = student_in(r#"{"users": []}"#).unwrap_err();
        assert_eq!((field.as_str(), message.as_str()), ("users", "is empty: the submission names no student"));
        let text = "{\n  \"users\": [\n    {\"id\": 1},\n    {\"email\": \"b@example.edu\"}\n  ]\n}";
        let (field, _) = student_in(text).unwrap_err();
        assert_eq!(field, "users[1].id");
        assert_eq!(field_line(text, &field), 2);
        let (_, message) = student_in(r#"{"params": {}}"#).unwrap_err();
        assert!(message.contains("submission_metadata.json") && message.contains("variant_seed"), "{message}");
        assert!(student_in("not json").unwrap_err().1.starts_with("not JSON"));
    }
}

//! An input shape written by a person: `N,C,H,W` (every dimension, batch first) or `CxHxW`
//! (without the batch, which is 1), checked against the rank and the fixed dimensions the ONNX
//! declares for its input — a graph with free dimensions can often be analysed only at the size
//! it was built for (PaddleOCR's recognizer at height 48).

/// Parses `text`; `declared` is the model input's shape (`None` for a free dimension).
pub fn parse(text: &str, declared: Option<&[Option<usize>]>) -> crate::Result<Vec<usize>> {
    let bad = |why: String| {
        crate::Error::Options(format!(
            "input shape {text:?}: {why} (write N,C,H,W, for example 1,3,48,320, or CxHxW)"
        ))
    };
    let (parts, with_batch): (Vec<&str>, bool) = if text.contains(',') {
        (text.split(',').collect(), true)
    } else {
        (text.split(['x', 'X']).collect(), false)
    };
    let mut shape = Vec::new();
    if !with_batch {
        shape.push(1);
    }
    for part in parts {
        match part.trim().parse::<usize>() {
            Ok(d) if d > 0 => shape.push(d),
            _ => {
                return Err(bad(format!(
                    "{:?} is not a positive whole number",
                    part.trim()
                )));
            }
        }
    }
    let Some(declared) = declared.filter(|d| !d.is_empty()) else {
        return Ok(shape);
    };
    if declared.len() != shape.len() {
        return Err(bad(format!(
            "the model's input has {} dimensions, this gives {}",
            declared.len(),
            shape.len()
        )));
    }
    for (axis, (want, got)) in declared.iter().zip(&shape).enumerate() {
        if let Some(want) = want
            && want != got
        {
            return Err(bad(format!(
                "dimension {axis} of the model's input is fixed at {want}, this gives {got}"
            )));
        }
    }
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn both_spellings_and_the_declared_shape() {
        let declared = [None, Some(3), Some(48), None];
        assert_eq!(
            parse("1,3,48,320", Some(&declared)).unwrap(),
            [1, 3, 48, 320]
        );
        assert_eq!(parse("3x48x64", Some(&declared)).unwrap(), [1, 3, 48, 64]);
        for (text, why) in [
            ("1,1,48,64", "fixed at 3"),
            ("3x48", "has 4 dimensions"),
            ("1,3,0,64", "not a positive whole number"),
        ] {
            let e = parse(text, Some(&declared)).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
    }
}

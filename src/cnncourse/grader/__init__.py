"""The class grader behind ``cnncourse grade`` (the students' library never imports it)."""

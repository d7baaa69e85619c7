//! Text UDFs (levenshtein, json_path, regex_extract): in progress.

package langcheck

import (
	"errors"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// checkTOML decodes TOML with github.com/pelletier/go-toml/v2, whose
// DecodeError carries the row and column of the error and which limits
// nesting (10,000 levels). A leading byte order mark is blanked first.
func checkTOML(content []byte) []Problem {
	var v map[string]any
	err := toml.Unmarshal(blankBOM(content), &v)
	if err == nil {
		return nil
	}
	var de *toml.DecodeError
	if !errors.As(err, &de) {
		return []Problem{{Message: err.Error()}}
	}
	row, col := de.Position()
	msg := de.Error()
	if !strings.HasPrefix(msg, "toml: ") {
		msg = "toml: " + msg
	}
	return []Problem{{Line: row, Column: col, Message: msg}}
}

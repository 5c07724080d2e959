package component

import (
	"fmt"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// LogOptions configures the logger: JSON by default, console for people at a terminal.
type LogOptions struct {
	// Format is "json" (default) or "console".
	Format string
	// Verbosity follows klog's -v habit: 0 is Info, 4 and above enables Debug.
	Verbosity int
}

// DefaultLogOptions returns JSON logging at Info.
func DefaultLogOptions() LogOptions { return LogOptions{Format: "json"} }

// BindFlags registers --log-format and --v.
func (o *LogOptions) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Format, "log-format", o.Format, `log format: "json" or "console"`)
	fs.IntVarP(&o.Verbosity, "v", "v", o.Verbosity, "log verbosity: 0 info, 4 and above debug")
}

// NewLogger builds the component's zap logger; it logs to stderr.
func NewLogger(o LogOptions, component string) (*zap.Logger, error) {
	var cfg zap.Config
	switch o.Format {
	case "", "json":
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.TimeKey = "ts"
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	case "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
	default:
		return nil, fmt.Errorf("unknown --log-format %q: want json or console", o.Format)
	}
	cfg.Sampling = nil
	cfg.Level = zap.NewAtomicLevelAt(zap.InfoLevel)
	if o.Verbosity >= 4 {
		cfg.Level = zap.NewAtomicLevelAt(zap.DebugLevel)
	}
	cfg.OutputPaths = []string{"stderr"}
	l, err := cfg.Build()
	if err != nil {
		return nil, fmt.Errorf("building logger: %w", err)
	}
	return l.With(zap.String("component", component)), nil
}

// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/result.hpp"

/// The progress of compose `up`/`down` for the user, as Compose v2 shows it.
///
/// Events are (kind, name, status) triples from the orchestrator ("Container",
/// "demo-web-1", "Starting"). A status ending in "ing" is work in progress, one
/// starting with "Error" failed, anything else is done. The printer keeps one
/// line per resource (kind + name) in first-seen order and renders them as:
///
/// - tty: a block redrawn in place, a header "[+] Running 2/3" and per line a
///   spinner (or a done or failed mark), kind, name, status and the elapsed
///   time, like `docker compose` on a terminal;
/// - plain: one line per event, " Container demo-web-1  Started";
/// - json: one JSON object per event line;
/// - quiet: nothing.
namespace berth::cli {

/// `--progress`: how progress is shown.
enum class ProgressMode { automatic, tty, plain, quiet, json };
/// `--ansi`: whether control characters are used.
enum class AnsiMode { automatic, never, always };

/// Parses a `--progress` value ("auto", "tty", "plain", "quiet", "json").
/// Errc::invalid_argument otherwise, naming the value.
[[nodiscard]] Result<ProgressMode> parse_progress_mode(std::string_view text);
/// Parses an `--ansi` value ("auto", "never", "always").
[[nodiscard]] Result<AnsiMode> parse_ansi_mode(std::string_view text);

/// The style actually used: `automatic` resolved against the terminal.
struct ProgressStyle {
    ProgressMode mode = ProgressMode::plain;  ///< never `automatic`
    bool color = false;                       ///< colours in tty mode
    /// tty: the terminal's height; a taller block shows the header and the
    /// lines still working, then the latest done ones. 0: no limit.
    size_t rows = 0;
};

/// Resolves the flags as Compose does: `quiet`, `json` and `plain` as asked;
/// `tty` unless `--ansi never` (plain then); `auto` gives tty on a terminal
/// (`is_tty`, TERM not "dumb") or with `--ansi always`, plain otherwise.
/// Colours follow the same rule, and NO_COLOR (`no_color`) turns them off
/// unless `--ansi always`. Pure.
[[nodiscard]] ProgressStyle resolve_progress_style(ProgressMode mode, AnsiMode ansi, bool is_tty,
                                                   std::string_view term, bool no_color);

/// Renders progress events. Thread-safe: every public member takes one lock.
/// The output and the clock are injected, so that a test can use a fake
/// terminal and a fake clock.
class ProgressPrinter {
public:
    using Clock = std::chrono::steady_clock;
    using WriteFn = std::function<void(std::string_view text)>;
    using NowFn = std::function<Clock::time_point()>;

    /// `write` receives the output (stderr in the CLI), `now` the time.
    /// `dry_run` marks every line ("DRY-RUN MODE - ", or "dry_run": true).
    ProgressPrinter(ProgressStyle style, WriteFn write, NowFn now, bool dry_run = false);
    ~ProgressPrinter();
    ProgressPrinter(const ProgressPrinter&) = delete;
    ProgressPrinter& operator=(const ProgressPrinter&) = delete;

    /// One event: updates the resource's line (tty), or prints it.
    void event(std::string_view kind, std::string_view name, std::string_view status);
    /// A warning for the user: "WARN[0000] text" above the tty block or on its
    /// own line (also in quiet mode), {"level": "warning", "message": text} in
    /// json mode.
    void warning(std::string_view text);
    /// tty: redraws the block (the spinners move on). Nothing in other modes.
    void tick();
    /// tty: the last redraw, then shows the cursor again. Idempotent; the
    /// destructor calls it.
    void finish();

    /// The ProgressFn the orchestrator calls (kind, name, status); it refers
    /// to this printer, which must outlive it.
    [[nodiscard]] std::function<void(std::string_view, std::string_view, std::string_view)>
    callback();

    [[nodiscard]] const ProgressStyle& style() const { return style_; }

private:
    enum class State { working, done, error };
    struct Line {
        std::string kind;
        std::string name;
        std::string status;
        State state = State::working;
        Clock::time_point start;
        Clock::time_point end;
    };

    static State state_of(std::string_view status);
    void redraw_locked();
    [[nodiscard]] std::string render_line(const Line& line, Clock::time_point now) const;

    ProgressStyle style_;
    WriteFn write_;
    NowFn now_;
    bool dry_run_;
    std::mutex mu_;
    std::vector<Line> lines_;
    size_t drawn_ = 0;  ///< lines of the block on screen (tty)
    size_t frame_ = 0;  ///< spinner frame
    bool started_ = false;
    bool finished_ = false;
};

/// Calls printer.tick() every `period` on its own thread while it lives, for
/// the tty spinners; does nothing for the other modes.
class ProgressTicker {
public:
    ProgressTicker(ProgressPrinter& printer, std::chrono::milliseconds period);
    ~ProgressTicker();
    ProgressTicker(const ProgressTicker&) = delete;
    ProgressTicker& operator=(const ProgressTicker&) = delete;

private:
    ProgressPrinter& printer_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace berth::cli

// SPDX-License-Identifier: Apache-2.0
#include "cli/progress.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace berth::cli {

namespace {

constexpr std::string_view dry_run_prefix = "DRY-RUN MODE - ";
// Compose v2's spinner frames.
constexpr std::array<std::string_view, 10> spinner{"⠋", "⠙", "⠹", "⠸", "⠼",
                                                   "⠴", "⠦", "⠧", "⠇", "⠏"};
constexpr std::string_view done_mark = "✔";
constexpr std::string_view error_mark = "✘";
constexpr std::string_view green = "\x1b[32m";
constexpr std::string_view red = "\x1b[31m";
constexpr std::string_view reset = "\x1b[0m";
constexpr std::string_view hide_cursor = "\x1b[?25l";
constexpr std::string_view show_cursor = "\x1b[?25h";
constexpr std::string_view clear_line = "\x1b[2K";
constexpr std::string_view clear_below = "\x1b[J";

double seconds(std::chrono::steady_clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

/// Display width of UTF-8 text: one column per code point (the names and
/// statuses here have no wide characters).
size_t columns(std::string_view text) {
    return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

}  // namespace

Result<ProgressMode> parse_progress_mode(std::string_view text) {
    if (text == "auto") {
        return ProgressMode::automatic;
    }
    if (text == "tty") {
        return ProgressMode::tty;
    }
    if (text == "plain") {
        return ProgressMode::plain;
    }
    if (text == "quiet") {
        return ProgressMode::quiet;
    }
    if (text == "json") {
        return ProgressMode::json;
    }
    return Error(Errc::invalid_argument,
                 fmt::format("invalid --progress value \"{}\": expected auto, tty, plain, quiet "
                             "or json",
                             text));
}

Result<AnsiMode> parse_ansi_mode(std::string_view text) {
    if (text == "auto") {
        return AnsiMode::automatic;
    }
    if (text == "never") {
        return AnsiMode::never;
    }
    if (text == "always") {
        return AnsiMode::always;
    }
    return Error(Errc::invalid_argument,
                 fmt::format("invalid --ansi value \"{}\": expected never, always or auto",
                             text));
}

ProgressStyle resolve_progress_style(ProgressMode mode, AnsiMode ansi, bool is_tty,
                                     std::string_view term, bool no_color) {
    bool terminal = is_tty && term != "dumb";
    bool control = ansi == AnsiMode::always || (ansi == AnsiMode::automatic && terminal);
    ProgressStyle style;
    switch (mode) {
    case ProgressMode::automatic:
        style.mode = control ? ProgressMode::tty : ProgressMode::plain;
        break;
    case ProgressMode::tty:
        style.mode = ansi == AnsiMode::never ? ProgressMode::plain : ProgressMode::tty;
        break;
    case ProgressMode::plain:
    case ProgressMode::quiet:
    case ProgressMode::json:
        style.mode = mode;
        break;
    }
    style.color = style.mode == ProgressMode::tty &&
                  (ansi == AnsiMode::always || (control && !no_color));
    return style;
}

ProgressPrinter::ProgressPrinter(ProgressStyle style, WriteFn write, NowFn now, bool dry_run)
    : style_(style), write_(std::move(write)), now_(std::move(now)), dry_run_(dry_run) {}

ProgressPrinter::~ProgressPrinter() { finish(); }

ProgressPrinter::State ProgressPrinter::state_of(std::string_view status) {
    if (status.rfind("Error", 0) == 0) {
        return State::error;
    }
    // "Running" is where a kept container already is; "Recreate" is Compose's
    // word for a recreation under way.
    if (status == "Recreate" ||
        (status.size() > 3 && status.substr(status.size() - 3) == "ing" && status != "Running")) {
        return State::working;
    }
    return State::done;
}

void ProgressPrinter::event(std::string_view kind, std::string_view name,
                            std::string_view status) {
    std::lock_guard lock(mu_);
    if (finished_ && style_.mode == ProgressMode::tty) {
        // A late event after finish(): a fresh block below the old one.
        finished_ = false;
        started_ = false;
        drawn_ = 0;
        lines_.clear();
    }
    auto now = now_();
    auto state = state_of(status);
    auto it = std::find_if(lines_.begin(), lines_.end(), [&](const Line& l) {
        return l.kind == kind && l.name == name;
    });
    if (it == lines_.end()) {
        lines_.push_back(Line{std::string(kind), std::string(name), {}, state, now, now});
        it = std::prev(lines_.end());
    }
    it->status = std::string(status);
    it->state = state;
    if (state != State::working) {
        it->end = now;
    }
    switch (style_.mode) {
    case ProgressMode::tty:
        redraw_locked();
        break;
    case ProgressMode::plain:
        write_(fmt::format(" {}{} {}  {}\n", dry_run_ ? fmt::format("{} ", dry_run_prefix) : "",
                           kind, name, status));
        break;
    case ProgressMode::json: {
        nlohmann::json j{{"id", fmt::format("{} {}", kind, name)},
                         {"kind", kind},
                         {"name", name},
                         {"status", status},
                         {"state", state == State::working ? "working"
                                   : state == State::done  ? "done"
                                                           : "error"},
                         {"elapsed", std::round(seconds((state == State::working ? now : it->end) -
                                                        it->start) *
                                                1000.0) /
                                         1000.0}};
        if (dry_run_) {
            j["dry_run"] = true;
        }
        write_(j.dump() + "\n");
        break;
    }
    case ProgressMode::quiet:
    case ProgressMode::automatic:
        break;
    }
}

void ProgressPrinter::warning(std::string_view text) {
    std::lock_guard lock(mu_);
    if (style_.mode == ProgressMode::json) {
        write_(nlohmann::json{{"level", "warning"}, {"message", text}}.dump() + "\n");
        return;
    }
    auto line = fmt::format("WARN[0000] {}\n", text);
    if (style_.mode == ProgressMode::tty && drawn_ > 0 && !finished_) {
        // Erase the block, print the warning where it was, draw it again below.
        write_(fmt::format("\x1b[{}A{}{}", drawn_, clear_below, line));
        drawn_ = 0;
        redraw_locked();
        return;
    }
    write_(line);
}

void ProgressPrinter::tick() {
    std::lock_guard lock(mu_);
    if (style_.mode != ProgressMode::tty || lines_.empty() || finished_) {
        return;
    }
    ++frame_;
    redraw_locked();
}

void ProgressPrinter::finish() {
    std::lock_guard lock(mu_);
    if (style_.mode != ProgressMode::tty || finished_ || !started_) {
        finished_ = true;
        return;
    }
    redraw_locked();
    write_(show_cursor);
    finished_ = true;
}

std::function<void(std::string_view, std::string_view, std::string_view)>
ProgressPrinter::callback() {
    return [this](std::string_view kind, std::string_view name, std::string_view status) {
        event(kind, name, status);
    };
}

std::string ProgressPrinter::render_line(const Line& line, Clock::time_point now) const {
    size_t name_width = 0;
    size_t status_width = 0;
    for (const auto& l : lines_) {
        name_width = std::max(name_width, columns(l.kind) + 1 + columns(l.name));
        status_width = std::max(status_width, columns(l.status));
    }
    std::string mark;
    std::string status = line.status;
    switch (line.state) {
    case State::working:
        mark = std::string(spinner[frame_ % spinner.size()]);
        break;
    case State::done:
        mark = style_.color ? fmt::format("{}{}{}", green, done_mark, reset)
                            : std::string(done_mark);
        break;
    case State::error:
        mark = style_.color ? fmt::format("{}{}{}", red, error_mark, reset)
                            : std::string(error_mark);
        if (style_.color) {
            status = fmt::format("{}{}{}", red, line.status, reset);
        }
        break;
    }
    auto id = fmt::format("{} {}", line.kind, line.name);
    auto elapsed = seconds((line.state == State::working ? now : line.end) - line.start);
    return fmt::format(" {} {}{}{}  {}{} {:>5.1f}s", mark,
                       dry_run_ ? fmt::format("{} ", dry_run_prefix) : "", id,
                       std::string(name_width - columns(id), ' '), status,
                       std::string(status_width - columns(line.status), ' '), elapsed);
}

void ProgressPrinter::redraw_locked() {
    auto now = now_();
    std::string out;
    if (!started_) {
        out += hide_cursor;
        started_ = true;
    }
    if (drawn_ > 0) {
        out += fmt::format("\x1b[{}A", drawn_);
    }
    size_t done = std::count_if(lines_.begin(), lines_.end(),
                                [](const Line& l) { return l.state != State::working; });
    out += fmt::format("{}[+] Running {}/{}\n", clear_line, done, lines_.size());
    // On a short terminal the cursor cannot move above the screen: keep the
    // block within it (working lines first, then the latest done ones).
    std::vector<bool> shown(lines_.size(), true);
    if (style_.rows > 2 && lines_.size() + 2 > style_.rows) {
        size_t room = style_.rows - 2;
        std::fill(shown.begin(), shown.end(), false);
        for (size_t i = 0; i < lines_.size() && room > 0; ++i) {
            if (lines_[i].state == State::working) {
                shown[i] = true;
                --room;
            }
        }
        for (size_t i = lines_.size(); i > 0 && room > 0; --i) {
            if (!shown[i - 1]) {
                shown[i - 1] = true;
                --room;
            }
        }
    }
    size_t count = 0;
    for (size_t i = 0; i < lines_.size(); ++i) {
        if (!shown[i]) {
            continue;
        }
        out += clear_line;
        out += render_line(lines_[i], now);
        out += '\n';
        ++count;
    }
    drawn_ = count + 1;
    write_(out);
}

ProgressTicker::ProgressTicker(ProgressPrinter& printer, std::chrono::milliseconds period)
    : printer_(printer) {
    if (printer_.style().mode != ProgressMode::tty) {
        return;
    }
    thread_ = std::thread([this, period] {
        std::unique_lock lock(mu_);
        while (!cv_.wait_for(lock, period, [this] { return stop_; })) {
            printer_.tick();
        }
    });
}

ProgressTicker::~ProgressTicker() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

}  // namespace berth::cli

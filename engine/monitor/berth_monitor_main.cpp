// SPDX-License-Identifier: Apache-2.0
//
// berth-monitor: what a container's supervisor becomes while nothing happens.
//
// The supervisor (engine/containers/supervisor.cpp) is a fork of the berth
// CLI: its text, libraries and heap make it several MiB, per container, for a
// process that mostly waits. Once a detached container runs, the supervisor
// execve()s this small program, keeping its PID (so it stays the container's
// parent and the pid recorded in state.json) and the descriptors that matter:
// the container's pidfd, its stdout/stderr pipes or pty, the stdin pipe it
// holds open, the control socket and the clients waiting on it. The monitor
// writes the json-file log, answers `ping`, holds `wait` requests, forwards
// signals other than SIGKILL, and for anything else (the container's exit,
// stop, SIGKILL, pause, ...) execve()s `berth __supervise-resume` with the
// same descriptors and the request, so that every decision stays in the
// engine's one implementation. It uses only the C library, libstdc++ (linked
// statically) and nlohmann/json.
//
// argv: berth-monitor __supervise-monitor --root ROOT --run-root RUN JSON
// (the roots are there for `ps` and leak checks; JSON is the hand-off, see
// supervisor.cpp's Handoff).

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/unique_fd.hpp"
#include "engine/containers/control_client.hpp"
#include "engine/containers/logfile.hpp"

namespace {

using nlohmann::json;
using berth::UniqueFd;
using berth::engine::containers::LogWriter;

using Client = berth::engine::containers::ControlClient;

class Monitor {
public:
    Monitor(std::vector<std::string> roots, json h) : roots_(std::move(roots)), h_(std::move(h)) {}
    [[noreturn]] void run();

private:
    int fd_of(const char* key) const { return h_.value(key, -1); }
    /// Reads once from a stream into the log; false at end of stream.
    bool forward(int fd, std::string_view stream);
    void drain();
    void on_client(Client& c);
    void reply(Client& c, const json& j);
    /// Hands everything back to the engine's supervisor; returns only if
    /// execve failed (the reason is in errno).
    void resume(Client* pending, const std::string& request, bool exited);

    std::vector<std::string> roots_;
    json h_;
    LogWriter log_{UniqueFd()};
    int pidfd_ = -1;
    int out_ = -1;
    int err_ = -1;
    int pty_ = -1;
    std::vector<Client> clients_;
};

bool Monitor::forward(int fd, std::string_view stream) {
    char buf[65536];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        return true;
    }
    if (n <= 0) {
        return false;
    }
    log_.write(stream, std::string_view(buf, static_cast<size_t>(n)));
    return true;
}

void Monitor::drain() {
    // What the container wrote before it exited: read until the pipes are
    // empty (non-blocking: a grandchild may still hold a write end).
    for (int* fd : {&out_, &err_, &pty_}) {
        if (*fd < 0) {
            continue;
        }
        ::fcntl(*fd, F_SETFL, ::fcntl(*fd, F_GETFL) | O_NONBLOCK);
        char buf[65536];
        for (int i = 0; i < 1024; ++i) {
            ssize_t n = ::read(*fd, buf, sizeof buf);
            if (n <= 0) {
                break;
            }
            log_.write(fd == &err_ ? "stderr" : "stdout", std::string_view(buf, static_cast<size_t>(n)));
        }
    }
}

void Monitor::reply(Client& c, const json& j) { berth::engine::containers::send_reply(c, j); }

void Monitor::on_client(Client& c) {
    if (!berth::engine::containers::receive(c)) {
        return;
    }
    auto nl = c.buffer.find('\n');
    if (nl == std::string::npos) {
        return;
    }
    std::string line = c.buffer.substr(0, nl);
    json req = json::parse(line, nullptr, false);
    std::string op = req.is_object() ? req.value("op", "") : "";
    int sig = req.is_object() ? req.value("signal", SIGKILL) : SIGKILL;
    if (op == "ping") {
        c.buffer.erase(0, nl + 1);
        reply(c, {{"ok", true}, {"pid", h_.value("pid", 0)}});
        return;
    }
    if (op == "wait") {
        c.buffer.erase(0, nl + 1);
        c.waiting_exit = true;
        return;
    }
    if (op == "kill" && sig != SIGKILL && sig > 0 && sig < 65) {
        c.buffer.erase(0, nl + 1);
        ::syscall(SYS_pidfd_send_signal, pidfd_, sig, nullptr, 0);
        reply(c, {{"ok", true}});
        return;
    }
    // Everything else is the engine's: stop, SIGKILL (a stop for the restart
    // policy), pause, unpause, and requests this program does not know.
    int saved = 0;
    resume(&c, line, false);
    saved = errno;
    reply(c, {{"ok", false}, {"error", std::string("cannot resume the supervisor: ") + std::strerror(saved)}});
    c.buffer.erase(0, nl + 1);
}

void Monitor::resume(Client* pending, const std::string& request, bool exited) {
    json h = h_;
    h.erase("status");
    h["out_buf"] = log_.pending("stdout");
    h["err_buf"] = log_.pending("stderr");
    h["out"] = out_;
    h["err"] = err_;
    h["pty"] = pty_;
    h["exited"] = exited;
    json waiters = json::array();
    std::vector<int> keep = {pidfd_, out_, err_, pty_, fd_of("in"), fd_of("listen")};
    for (auto& c : clients_) {
        if (c.fd && c.waiting_exit) {
            waiters.push_back(c.fd.get());
            keep.push_back(c.fd.get());
        }
    }
    h["waiters"] = waiters;
    if (pending != nullptr) {
        h["pending"] = {{"fd", pending->fd.get()}, {"request", request}};
        keep.push_back(pending->fd.get());
    } else {
        h.erase("pending");
    }
    for (int fd : keep) {
        if (fd >= 0) {
            ::fcntl(fd, F_SETFD, 0);
        }
    }
    std::string berth = h_.value("berth", "");
    std::string arg = h.dump(-1, ' ', false, json::error_handler_t::replace);
    std::vector<std::string> args = {"berth", "--root", roots_[0], "--run-root", roots_[1],
                                     "__supervise-resume", arg};
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    ::execv(berth.c_str(), argv.data());
    int saved = errno;
    for (int fd : keep) {
        if (fd >= 0) {
            ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
    }
    errno = saved;
}

void Monitor::run() {
    pidfd_ = fd_of("pidfd");
    out_ = fd_of("out");
    err_ = fd_of("err");
    pty_ = fd_of("pty");
    int listen = fd_of("listen");
    for (int fd : {pidfd_, out_, err_, pty_, fd_of("in"), listen}) {
        if (fd >= 0) {
            ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
    }
    int log_fd = ::open(h_.value("log", "").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    log_ = LogWriter(UniqueFd(log_fd));
    log_.restore(h_.value("out_buf", ""), h_.value("err_buf", ""));
    if (h_.contains("waiters")) {
        for (int fd : h_["waiters"]) {
            ::fcntl(fd, F_SETFD, FD_CLOEXEC);
            Client c;
            c.fd.reset(fd);
            c.waiting_exit = true;
            clients_.push_back(std::move(c));
        }
    }
    // The start is reported from here, so that whoever waits for it finds
    // the supervisor already in this small form.
    if (int status = fd_of("status"); status >= 0) {
        std::string line = json{{"event", "started"}, {"pid", h_.value("pid", 0)}}.dump() + "\n";
        ssize_t n = ::write(status, line.data(), line.size());
        (void)n;
        ::close(status);
    }
    for (;;) {
        std::vector<pollfd> fds;
        fds.push_back({listen, POLLIN, 0});
        fds.push_back({pidfd_, POLLIN, 0});
        for (int fd : {out_, err_, pty_}) {
            fds.push_back({fd, POLLIN, 0});  // -1 is ignored by poll
        }
        for (auto& c : clients_) {
            fds.push_back({c.fd.get(), POLLIN, 0});
        }
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            continue;
        }
        if (fds[1].revents != 0) {
            drain();
            resume(nullptr, "", true);
            // Without the engine nothing records the exit: reap the
            // container and leave; readers of the state see a supervisor
            // that is gone, as after a crash.
            siginfo_t info{};
            ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_), &info, WEXITED);
            _exit(1);
        }
        int* streams[] = {&out_, &err_, &pty_};
        for (int i = 0; i < 3; ++i) {
            if (fds[2 + i].revents != 0 && !forward(*streams[i], i == 1 ? "stderr" : "stdout")) {
                ::close(*streams[i]);
                *streams[i] = -1;
            }
        }
        size_t first_client = 5;
        size_t count = clients_.size();
        for (size_t i = 0; i < count; ++i) {
            if (fds[first_client + i].revents != 0) {
                on_client(clients_[i]);
            }
        }
        if (fds[0].revents != 0) {
            int c = ::accept4(listen, nullptr, nullptr, SOCK_CLOEXEC);
            if (c >= 0) {
                Client cl;
                cl.fd.reset(c);
                clients_.push_back(std::move(cl));
            }
        }
        std::erase_if(clients_, [](const Client& c) { return !c.fd; });
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 7 || std::strcmp(argv[1], "__supervise-monitor") != 0) {
        const char msg[] = "berth-monitor: started by berth's supervisor only\n";
        ssize_t n = ::write(2, msg, sizeof msg - 1);
        (void)n;
        return 2;
    }
    json h = json::parse(argv[6], nullptr, false);
    if (!h.is_object()) {
        return 2;
    }
    ::signal(SIGPIPE, SIG_IGN);
    Monitor(std::vector<std::string>{argv[3], argv[5]}, std::move(h)).run();
}

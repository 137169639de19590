// Follows a running job's log: appends what the job prints as text, and
// marks the job's state when it ends.
(function () {
  "use strict";
  var log = document.getElementById("log");
  if (!log || !log.dataset.follow || !window.EventSource) {
    return;
  }
  var state = document.getElementById("state");
  var live = document.getElementById("live");
  var es = new EventSource(log.dataset.follow);
  es.onmessage = function (e) {
    var atEnd = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
    log.appendChild(document.createTextNode(e.data));
    if (atEnd) {
      window.scrollTo(0, document.body.scrollHeight);
    }
  };
  es.addEventListener("end", function (e) {
    es.close();
    state.textContent = e.data;
    state.className = "state s-" + e.data;
    live.textContent = "the job has ended: ";
    var a = document.createElement("a");
    a.href = location.pathname;
    a.textContent = "show its record";
    live.appendChild(a);
  });
  es.onerror = function () {
    if (es.readyState === EventSource.CLOSED) {
      live.textContent = "the live log stopped: reload the page";
    }
  };
})();

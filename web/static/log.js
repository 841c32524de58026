// A running deployment's page follows its log and its steps live (Server-Sent Events), and reloads when it ends.
(function () {
  const pre = document.getElementById("log");
  const badge = document.querySelector("#state .state");
  const steps = Array.from(document.querySelectorAll("#steps li"));
  const order = steps.map((li) => li.dataset.step);
  const lineCount = document.getElementById("line-count");
  const duration = document.getElementById("duration");
  let last = Number(pre.dataset.after) || 0;

  function showState(state) {
    if (badge) { badge.className = "state state-" + state; badge.dataset.state = state; badge.textContent = state; }
    if (state !== "queued" && duration.textContent === "waiting for a worker") duration.textContent = "running";
    const at = order.indexOf(state);
    if (at < 0) return;
    steps.forEach((li, i) => {
      if (li.classList.contains("skipped")) return;
      li.className = i < at || state === "live" ? "done" : i === at ? "current" : "todo";
    });
  }

  const src = new EventSource(pre.dataset.stream + "?after=" + last);
  src.addEventListener("state", (ev) => showState(JSON.parse(ev.data).state));
  src.onmessage = (ev) => {
    const entry = JSON.parse(ev.data);
    if (entry.seq <= last) return;
    last = entry.seq;
    const placeholder = pre.querySelector(".empty-log");
    if (placeholder) placeholder.remove();
    const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    const line = document.createElement("span");
    line.className = "l";
    line.id = "line-" + entry.seq;
    line.innerHTML = entry.html; // escaped by the server before its colours were added
    pre.append(line);
    if (stick) pre.scrollTop = pre.scrollHeight;
    const count = pre.querySelectorAll(".l").length;
    lineCount.textContent = count + (count === 1 ? " line" : " lines");
  };
  src.addEventListener("end", (ev) => {
    src.close();
    showState(JSON.parse(ev.data).state);
    window.location.reload();
  });
})();

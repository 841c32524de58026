// A live deployment's page follows what its app prints (Server-Sent Events, secrets masked).
(function () {
  const pre = document.getElementById("applog");
  const src = new EventSource(pre.dataset.stream);
  let fresh = true;  // the "waiting" line stays until the first line of a connection arrives
  src.onmessage = (ev) => {
    if (fresh) { pre.textContent = ""; fresh = false; }
    const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.append(JSON.parse(ev.data).line + "\n");
    if (stick) pre.scrollTop = pre.scrollHeight;
  };
  // Reconnecting sends the last lines again: start over rather than repeat them.
  src.onopen = () => { fresh = true; };
  src.addEventListener("none", (ev) => { src.close(); pre.textContent = JSON.parse(ev.data).why; });
})();

// A running deployment's page follows its log live (Server-Sent Events) and reloads when it ends.
(function () {
  const pre = document.getElementById("log");
  const src = new EventSource(pre.dataset.stream + "?after=" + pre.dataset.after);
  src.onmessage = (ev) => {
    const entry = JSON.parse(ev.data);
    const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.append(entry.line + "\n");
    if (stick) pre.scrollTop = pre.scrollHeight;
  };
  src.addEventListener("end", () => { src.close(); window.location.reload(); });
})();

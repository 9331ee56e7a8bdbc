// Upload with a progress bar; without JavaScript the form posts normally.
// Files above the form's data-chunked-above go through the resumable chunked API
// (/api/v1/uploads/): chunks are PUT in order and a failed chunk resumes from the server's offset.
(function () {
  var form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest || !window.FormData) return;
  var box = document.getElementById("upload-progress");
  var bar = box.querySelector(".bar"), label = box.querySelector(".label");
  var csrf = (form.querySelector("[name=csrfmiddlewaretoken]") || {}).value;

  function show(done, total) {
    var pct = Math.round(100 * done / total);
    bar.style.width = pct + "%";
    label.textContent = pct < 100 ? pct + "%" : "Checking the file…";
  }

  // A refusal is a sentence or two: shown in an alert under the bar (the bar's label is one short line).
  function failed(button, message, answer) {
    button.disabled = false;
    label.textContent = "Not uploaded";
    var alert = document.getElementById("upload-error");
    if (!alert) {
      alert = document.createElement("p");
      alert.id = "upload-error"; alert.className = "alert error"; alert.setAttribute("role", "alert");
      form.querySelector("button[type=submit]").insertAdjacentElement("beforebegin", alert);
    }
    alert.textContent = message;
    // 409: the team already sent this file; link its earlier submission
    var earlier = answer && answer.extra && answer.extra.submission;
    if (earlier) {
      var link = document.createElement("a");
      link.href = "/submissions/" + earlier + "/";
      link.textContent = "Open submission #" + earlier;
      link.setAttribute("data-role", "duplicate-link");
      alert.appendChild(document.createTextNode(" "));
      alert.appendChild(link);
      alert.appendChild(document.createTextNode("."));
    }
  }

  function api(method, url, body, headers) {
    headers = Object.assign({ "X-CSRFToken": csrf, Accept: "application/json" }, headers || {});
    return fetch(url, { method: method, credentials: "same-origin", headers: headers, body: body })
      .then(function (r) { return r.json().catch(function () { return {}; }).then(function (d) { d._status = r.status; return d; }); });
  }

  function chunked(file, button) {
    var base = form.dataset.uploadsApi;
    var fields = { phase: Number(form.dataset.phase), filename: file.name, size: file.size,
                   method_name: form.elements.method_name.value, description: form.elements.description.value,
                   paper_url: form.elements.paper_url.value, code_url: form.elements.code_url.value,
                   is_public: form.elements.is_public.checked };
    var retries = 0;
    api("POST", base, JSON.stringify(fields), { "Content-Type": "application/json" }).then(function (up) {
      if (up._status !== 201) return failed(button, up.detail || "The upload could not start.", up);
      var url = base + up.id + "/";
      function send(offset) {
        show(offset, file.size);
        if (offset >= file.size) {
          return api("POST", url + "complete/", "{}", { "Content-Type": "application/json" }).then(function (s) {
            if (s._status === 201) window.location.href = "/submissions/" + s.id + "/";
            else failed(button, s.detail || "The file was refused.", s);
          });
        }
        var end = Math.min(offset + up.chunk_size, file.size);
        api("PUT", url, file.slice(offset, end), { "Content-Type": "application/octet-stream",
                                                   "Content-Range": "bytes " + offset + "-" + (end - 1) + "/" + file.size })
          .then(function (r) {
            if (r._status === 200 || r._status === 409) { retries = 0; return send(r.offset); }
            failed(button, r.detail || "The upload failed.");
          })
          .catch(function () {  // network error: ask where the server is, then resume from there
            if (++retries > 5) return failed(button, "The upload failed (network error); please try again.");
            setTimeout(function () { api("GET", url).then(function (r) { send(r.offset); })
                                     .catch(function () { send(offset); }); }, 2000 * retries);
          });
      }
      send(up.offset);
    }).catch(function () { failed(button, "The upload failed (network error); please try again."); });
  }

  // The refusal sentences of the page the server answered (field errors, the duplicate notice, error
  // messages), and the earlier submission a duplicate names; null when the page holds none.
  function refusalOf(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var parts = [], answer = null;
    doc.querySelectorAll("#upload-form ul.errorlist li, [data-role=duplicate], .messages .msg-error, [data-role=quota-exhausted]").forEach(function (node) {
      var copy = node.cloneNode(true);
      copy.querySelectorAll("a").forEach(function (a) { a.remove(); });
      var text = copy.textContent.replace(/\s+/g, " ").trim().replace(/\.$/, "");
      if (text) parts.push(text);
    });
    var link = doc.querySelector("[data-role=duplicate-link]");
    var id = link && /\/submissions\/(\d+)\//.exec(link.getAttribute("href"));
    if (id) answer = { extra: { submission: id[1] } };
    return parts.length ? { message: parts.join(". ") + ".", answer: answer } : null;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    box.hidden = false;
    var file = form.elements.file.files[0];
    var threshold = Number(form.dataset.chunkedAbove || 0);
    if (file && threshold && file.size > threshold && window.fetch && form.dataset.uploadsApi) {
      return chunked(file, button);
    }
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action || window.location.href);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) show(e.loaded, e.total);
    });
    xhr.addEventListener("load", function () {
      if (xhr.status === 201) {
        window.location.href = JSON.parse(xhr.responseText).redirect;
        return;
      }
      // A refusal: its sentences go next to the Upload button and the form keeps the chosen file.
      var refusal = refusalOf(xhr.responseText);
      if (refusal) { failed(button, refusal.message, refusal.answer); return; }
      document.open(); document.write(xhr.responseText); document.close();
    });
    xhr.addEventListener("error", function () {
      failed(button, "The upload failed (network error); please try again.");
    });
    xhr.send(new FormData(form));
  });
})();

// Upload with a progress bar (XHR upload progress); without JavaScript the form posts normally.
(function () {
  var form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest || !window.FormData) return;
  var box = document.getElementById("upload-progress");
  var bar = box.querySelector(".bar"), label = box.querySelector(".label");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    box.hidden = false;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action || window.location.href);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) return;
      var pct = Math.round(100 * e.loaded / e.total);
      bar.style.width = pct + "%";
      label.textContent = pct < 100 ? pct + "%" : "Checking the file…";
    });
    xhr.addEventListener("load", function () {
      if (xhr.status === 201) {
        window.location.href = JSON.parse(xhr.responseText).redirect;
      } else {
        document.open(); document.write(xhr.responseText); document.close();
      }
    });
    xhr.addEventListener("error", function () {
      button.disabled = false;
      label.textContent = "The upload failed (network error); please try again.";
    });
    xhr.send(new FormData(form));
  });
})();

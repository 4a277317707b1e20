function render(el, userHtml, res, err) {
  // ruleid: js-dangerous-html
  el.innerHTML = userHtml;
  // ruleid: js-dangerous-html
  document.write(userHtml);
  // ok: js-dangerous-html
  el.textContent = userHtml;
  // ok: js-dangerous-html
  el.innerHTML = "<b>static</b>";
  // ruleid: js-express-error-details
  res.send(err.stack);
  // ok: js-express-error-details
  res.status(500).send("internal error");
}
module.exports = { render };

const cp = require("child_process");
const { execSync } = require("child_process");

function run(userInput) {
  // ruleid: js-child-process-exec
  cp.exec("ls " + userInput, (err, out) => console.log(out));
  // ruleid: js-child-process-exec
  execSync(`git log ${userInput}`);
  // ruleid: js-child-process-exec
  cp.spawn("sh", ["-c", userInput], { shell: true });
  // ok: js-child-process-exec
  cp.execFile("ls", [userInput]);
  // ok: js-child-process-exec
  cp.exec("ls -l");
  // ruleid: js-child-process-exec
  cp.execSync("rm -rf " + userInput);
  // ok: js-child-process-exec
  const m = /a(b)/.exec(userInput);
  const re = /x/g;
  // ok: js-child-process-exec
  re.exec(userInput);
  return m;
}
module.exports = { run };

// ruleid: js-hardcoded-credential
const dbPassword = "hunter2-prod-2024";
// ruleid: js-hardcoded-credential
const config = { apiKey: "live-4f9a8b7c6d5e", region: "eu-west-1" };
// ok: js-hardcoded-credential
const apiKey = process.env.API_KEY;
// ok: js-hardcoded-credential
const secret = "changeme";
export { dbPassword, config, apiKey, secret };

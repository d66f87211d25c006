// Checks Teams messages with Microsoft's own Adaptive Cards library (npm `adaptivecards`, MIT): each message in
// the JSON array file given must be a Teams workflow webhook body (`type: message`, one Adaptive Card attachment)
// whose card parses and validates without a single warning. Prints what is wrong and exits 1; 0 when all pass.
"use strict";
const fs = require("fs");
const AC = require("adaptivecards/dist/adaptivecards.js");

const messages = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const problems = [];
messages.forEach((m, i) => {
  const where = `message ${i}`;
  if (m.type !== "message") problems.push(`${where}: type is ${JSON.stringify(m.type)}, not "message"`);
  if (!Array.isArray(m.attachments) || m.attachments.length !== 1) {
    problems.push(`${where}: expected one attachment`);
    return;
  }
  const a = m.attachments[0];
  if (a.contentType !== "application/vnd.microsoft.card.adaptive") {
    problems.push(`${where}: contentType ${JSON.stringify(a.contentType)}`);
  }
  const content = a.content || {};
  if (content.type !== "AdaptiveCard") problems.push(`${where}: content is not an AdaptiveCard`);
  // Teams renders cards up to schema 1.5.
  if (!["1.0", "1.1", "1.2", "1.3", "1.4", "1.5"].includes(content.version)) {
    problems.push(`${where}: card version ${JSON.stringify(content.version)} is beyond what Teams renders`);
  }
  const card = new AC.AdaptiveCard();
  const context = new AC.SerializationContext();
  card.parse(content, context);
  for (let e = 0; e < context.eventCount; e++) problems.push(`${where}: ${context.getEventAt(e).message}`);
  for (const e of card.validateProperties().validationEvents) problems.push(`${where}: ${e.message}`);
});
if (problems.length > 0) {
  console.log(problems.join("\n"));
  process.exit(1);
}
console.log(`${messages.length} Teams messages valid`);

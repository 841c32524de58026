const express = require("express");
const helmet = require("helmet");
const compression = require("compression");
const dayjs = require("dayjs");

const app = express();
app.use(helmet());
app.use(compression());
app.get("/", (req, res) => res.send(`hello from express at ${dayjs().format("YYYY-MM-DD")}\n`));
app.listen(Number(process.env.PORT), "0.0.0.0");

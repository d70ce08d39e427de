using SharpCnn.Cli;

return CommandLine.Run(args);

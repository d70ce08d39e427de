using System.CommandLine;
using SharpCnn.Cli;

var root = new RootCommand("SharpCnn: a convolutional-neural-network engine in pure C#, with hand-derived, gradient-checked backpropagation.")
{
    TrainCommand.Create(),
    PredictCommand.Create(),
    EvalCommand.Create(),
    GradcheckCommand.Create(),
    SummaryCommand.Create(),
    ExportOnnxCommand.Create(),
    ImportOnnxCommand.Create(),
};
return CommandErrors.Invoke(root, args);

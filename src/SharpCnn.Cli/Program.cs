using System.CommandLine;
using SharpCnn.Cli;

var root = new RootCommand("SharpCnn: a convolutional-neural-network engine in pure C#, with hand-derived, gradient-checked backpropagation.")
{
    TrainCommand.Create(),
    EvalCommand.Create(),
    GradcheckCommand.Create(),
    SummaryCommand.Create(),
    BenchCommand.Create(),
};
return root.Parse(args).Invoke();

/**
 * Every language of the catalog, through runJob on the real rootfs: hello
 * world, a program reading stdin, a compile error where the language
 * compiles, a runtime error. Then the conventions of single languages
 * (Java's class name, C++20, multi-file programs, the read-only workspace).
 * A language the installed image does not include (RUNCELL_LANGUAGES) is
 * skipped, never passed.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readMarker, verifiedRootfs } from '../rootfs/build.js';
import { expandCommand, LANGUAGES } from '../rootfs/languages.js';
import type { RunResult } from '../sandbox/accounting.js';
import { config, job } from './helpers.js';

const file = (path: string, text: string) => ({ path, content: Buffer.from(text) });
const installed = readMarker(verifiedRootfs(config.dataDir, config.languages)).languages;

interface Program {
  /** Prints exactly "hello, <id>\n". */
  hello: string;
  /** Reads two integers from stdin, prints their sum. */
  sum: string;
  /** Does not compile (a syntax error where the language only checks); the message matches `compileMessage` (on stdout or stderr). */
  compileError: string;
  compileMessage: RegExp;
  /** Fails at run time: the run result matches `runtimeResult`, its output `runtimeMessage`. */
  runtimeError: string;
  runtimeResult: Partial<RunResult>;
  runtimeMessage: RegExp;
}

const PROGRAMS: Record<string, Program> = {
  c: {
    hello: '#include <stdio.h>\nint main(void) { puts("hello, c"); return 0; }\n',
    sum: '#include <stdio.h>\nint main(void) { long a, b; if (scanf("%ld %ld", &a, &b) != 2) return 1; printf("%ld\\n", a + b); return 0; }\n',
    compileError: 'int main(void) { return missing; }\n',
    compileMessage: /.missing. undeclared/,
    runtimeError: '#include <stdio.h>\nint main(void) { volatile int *p = 0; fputs("boom\\n", stderr); return *p; }\n',
    runtimeResult: { status: 'signalled', signal: 'SIGSEGV' },
    runtimeMessage: /boom/,
  },
  cpp: {
    hello: '#include <iostream>\n#include <optional>\nint main() { std::optional<std::string> s{"hello, cpp"}; std::cout << *s << "\\n"; }\n',
    sum: '#include <iostream>\nint main() { long long a, b; std::cin >> a >> b; std::cout << a + b << "\\n"; }\n',
    compileError: 'int main() { return undefined_name; }\n',
    compileMessage: /.undefined_name. was not declared/,
    runtimeError: '#include <stdexcept>\nint main() { throw std::runtime_error("boom"); }\n',
    runtimeResult: { status: 'signalled', signal: 'SIGABRT' },
    runtimeMessage: /what\(\): +boom/,
  },
  cpp20: {
    hello: '#include <iostream>\n#include <span>\nconsteval int twenty() { return 20; }\nint main() { int xs[] = {twenty()}; std::span<int> s{xs}; std::cout << "hello, cpp" << s[0] << "\\n"; }\n',
    sum: '#include <iostream>\nint main() { long long a, b; std::cin >> a >> b; std::cout << a + b << "\\n"; }\n',
    compileError: 'int main() { return undefined_name; }\n',
    compileMessage: /.undefined_name. was not declared/,
    runtimeError: '#include <vector>\nint main() { std::vector<int> v; return v.at(3); }\n',
    runtimeResult: { status: 'signalled', signal: 'SIGABRT' },
    runtimeMessage: /out_of_range/,
  },
  python3: {
    hello: 'print("hello, python3")\n',
    sum: 'a, b = map(int, input().split())\nprint(a + b)\n',
    compileError: 'print("hello"\n',
    compileMessage: /SyntaxError/,
    runtimeError: 'raise ValueError("boom")\n',
    runtimeResult: { status: 'nonzero_exit', exit_code: 1 },
    runtimeMessage: /ValueError: boom/,
  },
  javascript: {
    hello: 'console.log("hello, javascript");\n',
    sum: 'const [a, b] = require("fs").readFileSync(0, "utf8").trim().split(/\\s+/).map(BigInt);\nconsole.log(String(a + b));\n',
    compileError: 'console.log("hello";\n',
    compileMessage: /SyntaxError/,
    runtimeError: 'throw new Error("boom");\n',
    runtimeResult: { status: 'nonzero_exit', exit_code: 1 },
    runtimeMessage: /Error: boom/,
  },
  java: {
    hello: 'public class Main {\n  public static void main(String[] args) { System.out.println("hello, java"); }\n}\n',
    sum: 'import java.util.Scanner;\npublic class Main {\n  public static void main(String[] args) { Scanner in = new Scanner(System.in); long a = in.nextLong(), b = in.nextLong(); System.out.println(a + b); }\n}\n',
    compileError: 'public class Main {\n  public static void main(String[] args) { System.out.println(missing); }\n}\n',
    compileMessage: /cannot find symbol/,
    runtimeError: 'public class Main {\n  public static void main(String[] args) { throw new IllegalStateException("boom"); }\n}\n',
    runtimeResult: { status: 'nonzero_exit', exit_code: 1 },
    runtimeMessage: /Exception in thread "main" java.lang.IllegalStateException: boom/,
  },
  go: {
    hello: 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello, go") }\n',
    sum: 'package main\n\nimport "fmt"\n\nfunc main() {\n\tvar a, b int64\n\tfmt.Scan(&a, &b)\n\tfmt.Println(a + b)\n}\n',
    compileError: 'package main\n\nfunc main() { x := 1 }\n',
    compileMessage: /x declared but not used|declared and not used/,
    runtimeError: 'package main\n\nfunc main() { panic("boom") }\n',
    runtimeResult: { status: 'nonzero_exit', exit_code: 2 },
    runtimeMessage: /panic: boom/,
  },
  rust: {
    hello: 'fn main() { println!("hello, rust"); }\n',
    sum: 'use std::io::Read;\nfn main() {\n    let mut s = String::new();\n    std::io::stdin().read_to_string(&mut s).unwrap();\n    let n: Vec<i64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();\n    println!("{}", n[0] + n[1]);\n}\n',
    compileError: 'fn main() { let x: i32 = "text"; }\n',
    compileMessage: /mismatched types/,
    runtimeError: 'fn main() { panic!("boom"); }\n',
    runtimeResult: { status: 'nonzero_exit', exit_code: 101 },
    runtimeMessage: /panicked at .boom/,
  },
  bash: {
    hello: 'echo "hello, bash"\n',
    sum: 'read -r a b\necho $((a + b))\n',
    compileError: 'if true; then\n  echo hello\n',
    compileMessage: /syntax error/,
    runtimeError: 'no_such_command_boom\n',
    runtimeResult: { status: 'nonzero_exit', exit_code: 127 },
    runtimeMessage: /no_such_command_boom: command not found/,
  },
  ruby: {
    hello: 'puts "hello, ruby"\n',
    sum: 'a, b = STDIN.read.split.map(&:to_i)\nputs a + b\n',
    compileError: 'puts "hello"\nend\n',
    compileMessage: /syntax error/,
    runtimeError: 'raise "boom"\n',
    runtimeResult: { status: 'nonzero_exit', exit_code: 1 },
    runtimeMessage: /boom \(RuntimeError\)/,
  },
  php: {
    hello: '<?php\necho "hello, php\\n";\n',
    sum: '<?php\nfscanf(STDIN, "%d %d", $a, $b);\necho $a + $b, "\\n";\n',
    compileError: '<?php\necho "hello"\n',
    compileMessage: /Parse error/,
    runtimeError: '<?php\nthrow new Exception("boom");\n',
    runtimeResult: { status: 'nonzero_exit', exit_code: 255 },
    runtimeMessage: /Uncaught Exception: boom/,
  },
  lua: {
    hello: 'print("hello, lua")\n',
    sum: 'local a, b = io.read("n", "n")\nprint(a + b)\n',
    compileError: 'print("hello"\n',
    compileMessage: /'\)' expected/,
    runtimeError: 'error("boom")\n',
    runtimeResult: { status: 'nonzero_exit', exit_code: 1 },
    runtimeMessage: /boom/,
  },
  perl: {
    hello: 'print "hello, perl\\n";\n',
    sum: 'my ($a, $b) = split " ", <STDIN>;\nprint $a + $b, "\\n";\n',
    compileError: 'if (1) { print "hello";\n',
    compileMessage: /syntax error|Missing right curly/,
    runtimeError: 'die "boom\\n";\n',
    runtimeResult: { status: 'nonzero_exit' },
    runtimeMessage: /boom/,
  },
  pascal: {
    hello: "begin\n  writeln('hello, pascal');\nend.\n",
    sum: 'var a, b: int64;\nbegin\n  readln(a, b);\n  writeln(a + b);\nend.\n',
    compileError: 'begin\n  undefined_name := 1;\nend.\n',
    compileMessage: /Identifier not found "undefined_name"/,
    runtimeError: 'var a: longint;\nbegin\n  a := 0;\n  writeln(10 div a);\nend.\n',
    runtimeResult: { status: 'nonzero_exit', exit_code: 200 },
    runtimeMessage: /Runtime error 200/,
  },
  haskell: {
    hello: 'main :: IO ()\nmain = putStrLn "hello, haskell"\n',
    sum: 'main :: IO ()\nmain = do\n  [a, b] <- map read . words <$> getContents\n  print (a + b :: Integer)\n',
    compileError: 'main :: IO ()\nmain = putStrLn (42 :: Int)\n',
    compileMessage: /Couldn't match/,
    runtimeError: 'main :: IO ()\nmain = error "boom"\n',
    runtimeResult: { status: 'nonzero_exit', exit_code: 1 },
    runtimeMessage: /boom/,
  },
  csharp: {
    hello: 'using System;\nclass Program {\n  static void Main() { Console.WriteLine("hello, csharp"); }\n}\n',
    sum: 'using System;\nclass Program {\n  static void Main() { var p = Console.ReadLine().Split(); Console.WriteLine(long.Parse(p[0]) + long.Parse(p[1])); }\n}\n',
    compileError: 'class Program {\n  static int Main() { return missing; }\n}\n',
    compileMessage: /error CS0103: The name `missing' does not exist/,
    runtimeError: 'class Program {\n  static void Main() { throw new System.InvalidOperationException("boom"); }\n}\n',
    runtimeResult: { status: 'nonzero_exit', exit_code: 1 },
    runtimeMessage: /System.InvalidOperationException: boom/,
  },
  kotlin: {
    hello: 'fun main() {\n    println("hello, kotlin")\n}\n',
    sum: 'fun main() {\n    val (a, b) = readLine()!!.trim().split(" ").map { it.toLong() }\n    println(a + b)\n}\n',
    compileError: 'fun main() {\n    println(missing)\n}\n',
    compileMessage: /unresolved reference: missing/,
    runtimeError: 'fun main() {\n    throw IllegalStateException("boom")\n}\n',
    runtimeResult: { status: 'nonzero_exit', exit_code: 1 },
    runtimeMessage: /Exception in thread "main" java.lang.IllegalStateException: boom/,
  },
  ocaml: {
    hello: 'let () = print_endline "hello, ocaml"\n',
    sum: 'let () = Scanf.scanf " %d %d" (fun a b -> Printf.printf "%d\\n" (a + b))\n',
    compileError: 'let () = print_endline missing\n',
    compileMessage: /Unbound value missing/,
    runtimeError: 'let () = failwith "boom"\n',
    runtimeResult: { status: 'nonzero_exit', exit_code: 2 },
    runtimeMessage: /exception Failure\("boom"\)/,
  },
  scala: {
    hello: 'object Main {\n  def main(args: Array[String]): Unit = println("hello, scala")\n}\n',
    sum: 'object Main {\n  def main(args: Array[String]): Unit = {\n    val Array(a, b) = scala.io.StdIn.readLine().trim.split(" ").map(_.toLong)\n    println(a + b)\n  }\n}\n',
    compileError: 'object Main {\n  def main(args: Array[String]): Unit = println(missing)\n}\n',
    compileMessage: /not found: value missing/,
    runtimeError: 'object Main {\n  def main(args: Array[String]): Unit = throw new IllegalStateException("boom")\n}\n',
    runtimeResult: { status: 'nonzero_exit', exit_code: 1 },
    runtimeMessage: /java.lang.IllegalStateException: boom/,
  },
  r: {
    hello: 'cat("hello, r\\n")\n',
    sum: 'x <- scan(file("stdin"), quiet = TRUE)\ncat(x[1] + x[2], "\\n", sep = "")\n',
    compileError: 'cat("hello"\n',
    compileMessage: /unexpected end of input/,
    runtimeError: 'stop("boom")\n',
    runtimeResult: { status: 'nonzero_exit', exit_code: 1 },
    runtimeMessage: /Error: boom/,
  },
  prolog: {
    hello: ":- initialization(main, main).\nmain :- write('hello, prolog'), nl.\n",
    sum: ':- initialization(main, main).\nmain :-\n    read_line_to_string(user_input, Line),\n    split_string(Line, " ", " ", [X, Y]),\n    number_string(A, X), number_string(B, Y),\n    C is A + B, write(C), nl.\n',
    compileError: ':- initialization(main, main).\nmain :- write(hello.\n',
    compileMessage: /Syntax error/,
    runtimeError: ':- initialization(main, main).\nmain :- X is 1 / 0, write(X).\n',
    runtimeResult: { status: 'nonzero_exit' },
    runtimeMessage: /zero_divisor|division by zero/i,
  },
  commonlisp: {
    hello: '(format t "hello, commonlisp~%")\n',
    sum: '(let ((a (read)) (b (read)))\n  (format t "~a~%" (+ a b)))\n',
    compileError: '(defun f () (+ 1 undefined-var))\n(f)\n',
    compileMessage: /undefined variable/i,
    runtimeError: '(error "boom")\n',
    runtimeResult: { status: 'nonzero_exit' },
    runtimeMessage: /boom/,
  },
  ada: {
    hello: 'with Ada.Text_IO;\nprocedure Main is\nbegin\n   Ada.Text_IO.Put_Line ("hello, ada");\nend Main;\n',
    sum: 'with Ada.Text_IO;\nwith Ada.Integer_Text_IO;\nprocedure Main is\n   A, B : Integer;\nbegin\n   Ada.Integer_Text_IO.Get (A);\n   Ada.Integer_Text_IO.Get (B);\n   Ada.Integer_Text_IO.Put (A + B, Width => 0);\n   Ada.Text_IO.New_Line;\nend Main;\n',
    compileError: 'procedure Main is\nbegin\n   Missing := 1;\nend Main;\n',
    compileMessage: /"Missing" is undefined/,
    runtimeError: 'procedure Main is\nbegin\n   raise Program_Error with "boom";\nend Main;\n',
    runtimeResult: { status: 'nonzero_exit', exit_code: 1 },
    runtimeMessage: /raised PROGRAM_ERROR : boom/,
  },
  fortran: {
    hello: 'program main\n  print \'(a)\', "hello, fortran"\nend program main\n',
    sum: "program main\n  integer(8) :: a, b\n  read *, a, b\n  print '(i0)', a + b\nend program main\n",
    compileError: 'program main\n  implicit none\n  print *, missing\nend program main\n',
    compileMessage: /has no IMPLICIT type/,
    runtimeError: 'program main\n  error stop "boom"\nend program main\n',
    runtimeResult: { status: 'nonzero_exit', exit_code: 1 },
    runtimeMessage: /ERROR STOP boom/,
  },
  d: {
    hello: 'import std.stdio;\nvoid main() { writeln("hello, d"); }\n',
    sum: 'import std.stdio;\nvoid main() { long a, b; readf(" %d %d", a, b); writeln(a + b); }\n',
    compileError: 'void main() { int x = missing; }\n',
    compileMessage: /undefined identifier .missing/,
    runtimeError: 'void main() { throw new Exception("boom"); }\n',
    runtimeResult: { status: 'nonzero_exit', exit_code: 1 },
    runtimeMessage: /object.Exception@main.d\(1\): boom/,
  },
  erlang: {
    hello: '-module(main).\n-export([main/0]).\nmain() -> io:format("hello, erlang~n").\n',
    sum: '-module(main).\n-export([main/0]).\nmain() ->\n    {ok, [A, B]} = io:fread("", "~d ~d"),\n    io:format("~p~n", [A + B]).\n',
    compileError: '-module(main).\n-export([main/0]).\nmain() -> missing().\n',
    compileMessage: /function missing\/0 undefined/,
    runtimeError: '-module(main).\n-export([main/0]).\nmain() -> erlang:error(boom).\n',
    runtimeResult: { status: 'nonzero_exit', exit_code: 1 },
    runtimeMessage: /boom/,
  },
  elixir: {
    hello: 'IO.puts("hello, elixir")\n',
    sum: '[a, b] = IO.gets("") |> String.split() |> Enum.map(&String.to_integer/1)\nIO.puts(a + b)\n',
    compileError: 'IO.puts("hello"\n',
    compileMessage: /missing terminator/,
    runtimeError: 'raise "boom"\n',
    runtimeResult: { status: 'nonzero_exit', exit_code: 1 },
    runtimeMessage: /\(RuntimeError\) boom/,
  },
  clojure: {
    hello: '(println "hello, clojure")\n',
    sum: '(require \'[clojure.string :as str])\n(let [[a b] (map #(Long/parseLong %) (str/split (str/trim (slurp *in*)) #"\\s+"))]\n  (println (+ a b)))\n',
    compileError: '(println "hello"\n',
    compileMessage: /EOF while reading/,
    runtimeError: '(throw (ex-info "boom" {}))\n',
    runtimeResult: { status: 'nonzero_exit', exit_code: 1 },
    runtimeMessage: /boom/,
  },
  nim: {
    hello: 'echo "hello, nim"\n',
    sum: 'import strutils\nlet parts = stdin.readLine().splitWhitespace()\necho parseInt(parts[0]) + parseInt(parts[1])\n',
    compileError: 'echo missing\n',
    compileMessage: /undeclared identifier: 'missing'/,
    runtimeError: 'raise newException(ValueError, "boom")\n',
    runtimeResult: { status: 'nonzero_exit', exit_code: 1 },
    runtimeMessage: /unhandled exception: boom \[ValueError\]/,
  },
  awk: {
    hello: 'BEGIN { print "hello, awk" }\n',
    sum: '{ print $1 + $2 }\n',
    compileError: 'BEGIN { x = = 1 }\n',
    compileMessage: /syntax error/,
    runtimeError: 'BEGIN { x = 0; print 1 / x }\n',
    runtimeResult: { status: 'nonzero_exit', exit_code: 2 },
    runtimeMessage: /division by zero/,
  },
};

/**
 * A program in two (or three) files: the entry first, printing "hello, <id>\n"
 * through a function of another file, the way each language takes several
 * files (its catalog entry's multiFile).
 */
const TWO_FILES: Record<string, Record<string, string>> = {
  c: {
    'main.c': '#include "greet.h"\nint main(void) { greet("c"); return 0; }\n',
    'greet.h': 'void greet(const char *who);\n',
    'greet.c': '#include <stdio.h>\n#include "greet.h"\nvoid greet(const char *who) { printf("hello, %s\\n", who); }\n',
  },
  cpp: {
    'main.cpp': '#include "greet.hpp"\nint main() { greet("cpp"); }\n',
    'greet.hpp': '#include <string>\nvoid greet(const std::string &who);\n',
    'lib/greet.cc': '#include <iostream>\n#include "../greet.hpp"\nvoid greet(const std::string &who) { std::cout << "hello, " << who << "\\n"; }\n',
  },
  cpp20: {
    'main.cpp': '#include "greet.hpp"\nint main() { greet("cpp20"); }\n',
    'greet.hpp': '#include <string>\nvoid greet(const std::string &who);\n',
    'greet.cxx': '#include <iostream>\n#include "greet.hpp"\nvoid greet(const std::string &who) { std::cout << "hello, " << who << "\\n"; }\n',
  },
  python3: { 'main.py': 'import greet\ngreet.hello("python3")\n', 'greet.py': 'def hello(who):\n    print("hello, " + who)\n' },
  javascript: { 'main.js': 'require("./greet").hello("javascript");\n', 'greet.js': 'exports.hello = (who) => console.log("hello, " + who);\n' },
  java: {
    'Main.java': 'public class Main {\n  public static void main(String[] args) { System.out.println(Greeter.greet("java")); }\n}\n',
    'Greeter.java': 'class Greeter {\n  static String greet(String who) { return "hello, " + who; }\n}\n',
  },
  go: {
    'main.go': 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println(greet("go")) }\n',
    'greet.go': 'package main\n\nfunc greet(who string) string { return "hello, " + who }\n',
  },
  rust: { 'main.rs': 'mod greet;\nfn main() { println!("{}", greet::greet("rust")); }\n', 'greet.rs': 'pub fn greet(who: &str) -> String { format!("hello, {}", who) }\n' },
  bash: { 'main.sh': 'source ./greet.sh\ngreet bash\n', 'greet.sh': 'greet() { echo "hello, $1"; }\n' },
  ruby: { 'main.rb': 'require_relative "greet"\ngreet("ruby")\n', 'greet.rb': 'def greet(who)\n  puts "hello, #{who}"\nend\n' },
  php: { 'main.php': '<?php\nrequire __DIR__ . "/greet.php";\ngreet("php");\n', 'greet.php': '<?php\nfunction greet($who) { echo "hello, $who\\n"; }\n' },
  lua: { 'main.lua': 'local greet = require "greet"\ngreet("lua")\n', 'greet.lua': 'return function(who) print("hello, " .. who) end\n' },
  perl: { 'main.pl': 'use lib ".";\nuse Greet;\nGreet::greet("perl");\n', 'Greet.pm': 'package Greet;\nsub greet { print "hello, $_[0]\\n"; }\n1;\n' },
  pascal: {
    'main.pas': "program main;\nuses greet;\nbegin\n  hello('pascal');\nend.\n",
    'greet.pas': "unit greet;\ninterface\nprocedure hello(who: string);\nimplementation\nprocedure hello(who: string);\nbegin\n  writeln('hello, ', who);\nend;\nend.\n",
  },
  haskell: { 'main.hs': 'import Greet\nmain :: IO ()\nmain = putStrLn (greet "haskell")\n', 'Greet.hs': 'module Greet (greet) where\ngreet :: String -> String\ngreet who = "hello, " ++ who\n' },
  csharp: {
    'Main.cs': 'class Program {\n  static void Main() { System.Console.WriteLine(Greeter.Greet("csharp")); }\n}\n',
    'Greeter.cs': 'static class Greeter {\n  public static string Greet(string who) { return "hello, " + who; }\n}\n',
  },
  kotlin: { 'Main.kt': 'fun main() {\n    println(greet("kotlin"))\n}\n', 'Greet.kt': 'fun greet(who: String) = "hello, " + who\n' },
  ocaml: { 'main.ml': 'let () = print_endline (Greet.greet "ocaml")\n', 'greet.ml': 'let greet who = "hello, " ^ who\n' },
  scala: {
    'Main.scala': 'object Main {\n  def main(args: Array[String]): Unit = println(Greeter.greet("scala"))\n}\n',
    'Greeter.scala': 'object Greeter {\n  def greet(who: String): String = "hello, " + who\n}\n',
  },
  r: { 'main.R': 'source("greet.R")\ngreet("r")\n', 'greet.R': 'greet <- function(who) cat("hello, ", who, "\\n", sep = "")\n' },
  prolog: { 'main.pl': ':- initialization(main, main).\n:- consult(greet).\nmain :- greet(prolog).\n', 'greet.pl': "greet(Who) :- format('hello, ~w~n', [Who]).\n" },
  commonlisp: { 'main.lisp': '(load "greet.lisp")\n(greet "commonlisp")\n', 'greet.lisp': '(defun greet (who) (format t "hello, ~a~%" who))\n' },
  ada: {
    'main.adb': 'with Greet;\nprocedure Main is\nbegin\n   Greet.Hello ("ada");\nend Main;\n',
    'greet.ads': 'package Greet is\n   procedure Hello (Who : String);\nend Greet;\n',
    'greet.adb': 'with Ada.Text_IO;\npackage body Greet is\n   procedure Hello (Who : String) is\n   begin\n      Ada.Text_IO.Put_Line ("hello, " & Who);\n   end Hello;\nend Greet;\n',
  },
  fortran: {
    'main.f90': 'program main\n  use greet\n  call hello("fortran")\nend program main\n',
    'greet.f90': "module greet\ncontains\n  subroutine hello(who)\n    character(*), intent(in) :: who\n    print '(a)', 'hello, ' // who\n  end subroutine hello\nend module greet\n",
  },
  d: { 'main.d': 'import greet;\nvoid main() { hello("d"); }\n', 'greet.d': 'module greet;\nimport std.stdio;\nvoid hello(string who) { writeln("hello, ", who); }\n' },
  erlang: {
    'main.erl': '-module(main).\n-export([main/0]).\nmain() -> greet:hello("erlang").\n',
    'greet.erl': '-module(greet).\n-export([hello/1]).\nhello(Who) -> io:format("hello, ~s~n", [Who]).\n',
  },
  elixir: { 'main.exs': 'Code.require_file("greet.exs", __DIR__)\nGreet.hello("elixir")\n', 'greet.exs': 'defmodule Greet do\n  def hello(who), do: IO.puts("hello, " <> who)\nend\n' },
  clojure: { 'main.clj': '(load-file "greet.clj")\n(greet "clojure")\n', 'greet.clj': '(defn greet [who] (println (str "hello, " who)))\n' },
  nim: { 'main.nim': 'import greet\nhello("nim")\n', 'greet.nim': 'proc hello*(who: string) = echo "hello, ", who\n' },
  awk: { 'main.awk': '@include "greet.awk"\nBEGIN { greet("awk") }\n', 'greet.awk': 'function greet(who) { print "hello, " who }\n' },
};

/** Runs `source` as the language's default file; fails the test when a compiled language does not compile. */
async function program(id: string, source: string, stdin?: string) {
  const language = LANGUAGES.find((l) => l.id === id)!;
  const result = await job({ language: id, files: [file(language.defaultFile, source)], stdin: stdin === undefined ? undefined : Buffer.from(stdin) });
  // Every language has a compile step: a compile, or a syntax check for the interpreted ones.
  expect(result.compile, 'the compile step').toMatchObject({ status: 'ok' });
  return result.run!;
}

describe('the catalog', () => {
  it('every language has its test programs here', () => {
    expect(Object.keys(PROGRAMS).sort()).toEqual(LANGUAGES.map((l) => l.id).sort());
    expect(Object.keys(TWO_FILES).sort()).toEqual(LANGUAGES.map((l) => l.id).sort());
  });

  it('docs/languages.md lists how each language takes several files, as the catalog says', () => {
    const doc = readFileSync(new URL('../docs/languages.md', import.meta.url), 'utf8');
    for (const language of LANGUAGES) expect(doc, language.id).toContain(`| \`${language.id}\` | ${language.multiFile} |`);
  });

  it('every language compiles or checks its sources, not both, and says how it takes several files', () => {
    for (const language of LANGUAGES) {
      expect((language.compile === undefined) !== (language.check === undefined), language.id).toBe(true);
      expect(language.multiFile.length, language.id).toBeGreaterThan(20);
      for (const template of [language.compile, language.check]) if (template?.includes('{sources}')) expect(language.sources, `${language.id}: {sources} needs sources`).toBeDefined();
    }
  });

  it('{class} is the JVM class an entry declares (Kotlin: its file facade, MainKt), {module} the entry file name without its extension', () => {
    const names = (entry: string) => expandCommand(['{class}', '{module}'], entry);
    expect(names('Main.java')).toEqual(['Main', 'Main']);
    expect(names('pkg/Main.java')).toEqual(['pkg.Main', 'Main']);
    expect(names('Main.scala')).toEqual(['Main', 'Main']);
    expect(names('main.kt')).toEqual(['MainKt', 'main']);
    expect(names('util/greet.kt')).toEqual(['util.GreetKt', 'greet']);
    expect(names('src/main.erl')[1]).toBe('main');
  });

  it('the installed image has a version for each language it includes', () => {
    for (const id of config.languages ?? LANGUAGES.map((l) => l.id)) expect(installed[id], id).toMatch(/^\d+(\.\d+)+/);
  });
});

describe.each(LANGUAGES.map((l) => l.id))('%s', (id) => {
  const spec = PROGRAMS[id];
  const skip = !(id in installed);

  it.skipIf(skip)('hello world', async () => {
    const run = await program(id, spec.hello);
    expect(run).toMatchObject({ status: 'ok', exit_code: 0, stdout: `hello, ${id}\n` });
  });

  it.skipIf(skip)('hello world under the judge seccomp profile (no sockets at all)', async () => {
    const language = LANGUAGES.find((l) => l.id === id)!;
    // Both steps run under it (job() has no compile cache).
    const result = await job({ language: id, files: [file(language.defaultFile, spec.hello)], seccomp_profile: 'judge' });
    expect(result.compile, JSON.stringify(result.compile)).toMatchObject({ status: 'ok' });
    expect(result.run).toMatchObject({ status: 'ok', stdout: `hello, ${id}\n` });
  });

  it.skipIf(skip)('reads stdin', async () => {
    const run = await program(id, spec.sum, '20 22\n');
    expect(run).toMatchObject({ status: 'ok', stdout: '42\n' });
  });

  it.skipIf(skip)('a compile error (a syntax error where the language only checks): compile fails with the message, run is null', async () => {
    const language = LANGUAGES.find((l) => l.id === id)!;
    const result = await job({ language: id, files: [file(language.defaultFile, spec.compileError)] });
    expect(result.compile).toMatchObject({ status: 'nonzero_exit' });
    expect(result.compile!.stdout + result.compile!.stderr).toMatch(spec.compileMessage);
    expect(result.run).toBeNull();
  });

  it.skipIf(skip)('judged, a compile error is the verdict compile_error and no test runs', async () => {
    const language = LANGUAGES.find((l) => l.id === id)!;
    const result = await job({ language: id, files: [file(language.defaultFile, spec.compileError)], tests: [{ expected_stdout: 'hello\n' }] });
    expect(result).toMatchObject({ verdict: 'compile_error', tests: [] });
  });

  it.skipIf(skip)('a program in two files', async () => {
    const files = Object.entries(TWO_FILES[id]).map(([path, text]) => file(path, text));
    const result = await job({ language: id, files });
    expect(result.compile, JSON.stringify(result.compile)).toMatchObject({ status: 'ok' });
    expect(result.run).toMatchObject({ status: 'ok', stdout: `hello, ${id}\n` });
  });

  it.skipIf(skip)('a runtime error has its status and message', async () => {
    const run = await program(id, spec.runtimeError);
    expect(run).toMatchObject(spec.runtimeResult);
    expect(run.stdout + run.stderr).toMatch(spec.runtimeMessage);
  });
});

describe('conventions', () => {
  it.skipIf(!('java' in installed))('java: the class run is named after the entry file, other classes come from the other files', async () => {
    const result = await job({
      language: 'java',
      files: [
        file('Solution.java', 'public class Solution {\n  public static void main(String[] args) { System.out.println(util.Greeter.greet("java")); }\n}\n'),
        file('util/Greeter.java', 'package util;\npublic class Greeter {\n  public static String greet(String who) { return "hello, " + who; }\n}\n'),
      ],
    });
    expect(result.compile).toMatchObject({ status: 'ok' });
    expect(result.run).toMatchObject({ status: 'ok', stdout: 'hello, java\n' });
  });

  const javaClass = (name: string, body: string) => file(`${name}.java`, `public class ${name} {\n${body}\n}\n`);
  const printingMain = (text: string) => `  public static void main(String[] args) { System.out.println("${text}"); }`;
  it.skipIf(!('java' in installed))('java: every file is compiled; the entry class runs if it has main, else the one class that has', async () => {
    const entryWins = await job({ language: 'java', files: [javaClass('First', printingMain('first')), javaClass('Second', printingMain('second'))] });
    expect(entryWins.run).toMatchObject({ status: 'ok', stdout: 'first\n' });
    // Nothing in the entry refers to Runner: it is compiled because every .java file is, and found by its main (varargs too).
    const found = await job({ language: 'java', files: [javaClass('Helper', '  static int x = 1;'), javaClass('Runner', '  public static void main(String... args) { System.out.println("runner"); }')] });
    expect(found.run).toMatchObject({ status: 'ok', stdout: 'runner\n' });
  });

  it.skipIf(!('java' in installed))('java: no main, or several and none in the entry, is a compile error (judged: compile_error), not a runtime error', async () => {
    const none = await job({ language: 'java', files: [javaClass('Main', '  static void main() {}')] });
    expect(none.compile).toMatchObject({ status: 'nonzero_exit', stderr: expect.stringMatching(/no class has public static void main/) });
    expect(none.run).toBeNull();
    const several = [javaClass('Util', '  static int x;'), javaClass('A', printingMain('a')), javaClass('B', printingMain('b'))];
    const ambiguous = await job({ language: 'java', files: several });
    expect(ambiguous.compile!.stderr).toMatch(/several classes have main \(A B\), not Util/);
    const judged = await job({ language: 'java', files: [javaClass('Main', '  public void main(String[] args) {}')], tests: [{ expected_stdout: '' }] });
    expect(judged.verdict).toBe('compile_error');
  });

  it.skipIf(!('java' in installed))('java: the heap follows the job memory limit, so running out of it is an OutOfMemoryError', async () => {
    const source = 'public class Main {\n  public static void main(String[] args) { System.out.println(Runtime.getRuntime().maxMemory() >> 20); byte[][] keep = new byte[1000][]; for (int i = 0; i < 1000; i++) keep[i] = new byte[1 << 20]; }\n}\n';
    const result = await job({ language: 'java', files: [file('Main.java', source)], limits: { memory_bytes: 256 * 1024 * 1024 } });
    expect(Number(result.run!.stdout.trim())).toBeLessThanOrEqual(256);
    expect(result.run).toMatchObject({ status: 'nonzero_exit', exit_code: 1 });
    expect(result.run!.stderr).toMatch(/java.lang.OutOfMemoryError: Java heap space/);
  });

  it.skipIf(!('kotlin' in installed))('kotlin: the entry file need not have main: the one class that has it (AppKt of App.kt) runs', async () => {
    const result = await job({ language: 'kotlin', files: [file('Helper.kt', 'fun twice(x: Int) = 2 * x\n'), file('App.kt', 'fun main() {\n    println(twice(21))\n}\n')] });
    expect(result.compile, JSON.stringify(result.compile)).toMatchObject({ status: 'ok' });
    expect(result.run).toMatchObject({ status: 'ok', stdout: '42\n' });
  });

  const HEAP_MIB: Record<string, [string, string]> = {
    kotlin: ['Main.kt', 'fun main() {\n    println(Runtime.getRuntime().maxMemory() shr 20)\n}\n'],
    scala: ['Main.scala', 'object Main {\n  def main(args: Array[String]): Unit = println(Runtime.getRuntime().maxMemory() >> 20)\n}\n'],
    clojure: ['main.clj', '(println (bit-shift-right (.maxMemory (Runtime/getRuntime)) 20))\n'],
  };
  it.each(Object.keys(HEAP_MIB))('%s: the JVM heap follows the job memory limit, as Java\'s', async (id) => {
    if (!(id in installed)) return;
    const [path, source] = HEAP_MIB[id];
    const result = await job({ language: id, files: [file(path, source)], limits: { memory_bytes: 256 * 1024 * 1024 } });
    expect(result.run, JSON.stringify(result.run)).toMatchObject({ status: 'ok' });
    const heap = Number(result.run!.stdout.trim());
    expect(heap).toBeGreaterThan(0);
    expect(heap).toBeLessThanOrEqual(256);
  });

  const SCHEDULERS: Record<string, [string, string, string]> = {
    erlang: ['main.erl', '-module(main).\n-export([main/0]).\nmain() -> io:format("~p~n", [{erlang:system_info(schedulers), erlang:system_info(dirty_cpu_schedulers), erlang:system_info(dirty_io_schedulers)}]).\n', '{1,1,1}\n'],
    elixir: ['main.exs', 'IO.inspect({:erlang.system_info(:schedulers), :erlang.system_info(:dirty_cpu_schedulers), :erlang.system_info(:dirty_io_schedulers)})\n', '{1, 1, 1}\n'],
  };
  it.each(Object.keys(SCHEDULERS))("%s: the BEAM runs one scheduler of each kind, not one per host core", async (id) => {
    if (!(id in installed)) return;
    const [path, source, expected] = SCHEDULERS[id];
    const result = await job({ language: id, files: [file(path, source)] });
    expect(result.run).toMatchObject({ status: 'ok', stdout: expected });
  });

  it.skipIf(!('cpp' in installed && 'cpp20' in installed))('cpp is C++17 and cpp20 is C++20', async () => {
    const source = file('main.cpp', '#include <iostream>\nint main() { std::cout << __cplusplus << "\\n"; }\n');
    expect((await job({ language: 'cpp', files: [source] })).run!.stdout).toBe('201703\n');
    expect((await job({ language: 'cpp20', files: [source] })).run!.stdout).toBe('202002\n');
    const cpp20Only = file('main.cpp', 'consteval int f() { return 1; }\nint main() { return f() - 1; }\n');
    expect((await job({ language: 'cpp', files: [cpp20Only] })).compile!.status).toBe('nonzero_exit');
    expect((await job({ language: 'cpp20', files: [cpp20Only] })).run!.status).toBe('ok');
  });

  const BROKEN_MODULES: Record<string, [string, string]> = {
    python3: ['greet.py', 'def hello(who)\n    print(who)\n'],
    javascript: ['greet.js', 'exports.hello = (who => 1;\n'],
    bash: ['greet.sh', 'greet() { echo "$1"\n'],
    ruby: ['greet.rb', 'def greet(who)\n  puts who\n'],
    php: ['greet.php', '<?php\nfunction greet($who) {\n'],
    lua: ['greet.lua', 'return function(who)\n'],
    r: ['greet.R', 'greet <- function(who {\n'],
    prolog: ['greet.pl', 'greet(Who) :- format(\n'],
    elixir: ['greet.exs', 'defmodule Greet do\n'],
    clojure: ['greet.clj', '(defn greet [who]\n'],
    awk: ['greet.awk', 'function greet(who) {\n'],
  };
  it.each(Object.keys(BROKEN_MODULES))('%s: every source is checked, not only the entry: a syntax error in another file is a compile error naming it', async (id) => {
    if (!(id in installed)) return;
    const [path, text] = BROKEN_MODULES[id];
    const files = Object.entries({ ...TWO_FILES[id], [path]: text }).map(([name, source]) => file(name, source));
    const result = await job({ language: id, files });
    expect(result.compile).toMatchObject({ status: 'nonzero_exit' });
    expect(result.compile!.stdout + result.compile!.stderr).toContain(path);
    expect(result.run).toBeNull();
  });

  it.skipIf(!('bash' in installed))("bash: the syntax check parses extended globs, which the program turns on only when it runs", async () => {
    const source = 'shopt -s extglob\nx=hello\ncase $x in @(help|hello)) echo "matched $x";; esac\n';
    const result = await job({ language: 'bash', files: [file('main.sh', source)] });
    expect(result.compile).toMatchObject({ status: 'ok' });
    expect(result.run).toMatchObject({ status: 'ok', stdout: 'matched hello\n' });
  });

  it('c: a source whose name looks like an option is compiled as a file', async () => {
    const result = await job({ language: 'c', files: [file('main.c', 'int f(void);\nint main(void) { return f(); }\n'), file('-o.c', 'int f(void) { return 3; }\n')] });
    expect(result.run).toMatchObject({ status: 'nonzero_exit', exit_code: 3 });
  });

  it('the first file is the entry point, the others sit beside it', async () => {
    const result = await job({
      language: 'c',
      files: [file('prog.c', '#include "lib/greet.h"\nint main(void){greet();return 0;}'), file('lib/greet.h', '#include <stdio.h>\nstatic void greet(void){puts("from a header");}')],
    });
    expect(result.run).toMatchObject({ status: 'ok', stdout: 'from a header\n' });
  });

  it.skipIf(!('bash' in installed))('bash: arguments reach the program', async () => {
    const result = await job({ language: 'bash', files: [file('run.sh', 'echo "hello, $1 $2"')], args: ['bash', 'world'] });
    expect(result.run).toMatchObject({ status: 'ok', stdout: 'hello, bash world\n' });
  });

  it('the run step sees /box read-only and writes to /tmp', async () => {
    const source = `
#include <stdio.h>
int main(void) {
  FILE *box = fopen("/box/new", "w");
  FILE *tmp = fopen("/tmp/new", "w");
  printf("box %s, tmp %s\\n", box ? "writable" : "read-only", tmp ? "writable" : "read-only");
  return 0;
}`;
    const result = await job({ language: 'c', files: [file('main.c', source)] });
    expect(result.run).toMatchObject({ status: 'ok', stdout: 'box read-only, tmp writable\n' });
  });

  it('the compile step has its own limits', async () => {
    const result = await job({
      language: 'c',
      files: [file('main.c', '#include </dev/urandom>\n')],
      compile_limits: { cpu_ms: 1000, wall_ms: 3000, memory_bytes: 128 * 1024 * 1024 },
    });
    expect(['time_limit', 'wall_time_limit', 'memory_limit', 'nonzero_exit', 'output_limit']).toContain(result.compile!.status);
    expect(result.compile!.wall_ms).toBeLessThan(5000);
    expect(result.run).toBeNull();
  });

  it('a language the rootfs does not include is refused before anything runs', async () => {
    const only = { c: installed.c };
    await expect(job({ language: 'python3', files: [file('main.py', 'print(1)')] }, { installed: only })).rejects.toThrow(
      /language "python3" is not installed in this rootfs \(it has c; see RUNCELL_LANGUAGES\)/,
    );
    expect((await job({ language: 'c', files: [file('main.c', 'int main(void){return 0;}')] }, { installed: only })).run!.status).toBe('ok');
  });
});
